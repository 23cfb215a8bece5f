"""What is in a database, to prove a request left it as it was."""

from pathlib import Path
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine


def contents(engine: Engine) -> dict[str, Any]:
    """Every row of every table (alembic_version included), and on PostgreSQL where every sequence stands."""
    found: dict[str, Any] = {}
    with engine.connect() as conn:
        for table in sorted(inspect(conn).get_table_names()):
            rows = conn.execute(text(f'SELECT * FROM "{table}"')).all()
            found[table] = sorted(repr(tuple(row)) for row in rows)
        if engine.dialect.name == "postgresql":
            found["sequences"] = dict(conn.execute(text("SELECT sequencename, last_value FROM pg_sequences")).all())
    return found


def sqlite_file(engine: Engine) -> bytes:
    """The database file with everything in its write-ahead log moved into it, which then stays empty
    (empty bytes on PostgreSQL, where `contents` is the whole proof)."""
    if engine.dialect.name != "sqlite":
        return b""
    with engine.connect() as conn:
        busy, log_frames, _moved = conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)")).one()
        assert busy == 0 and log_frames == 0
    return Path(engine.url.database or "").read_bytes()
