"""`clusterscore backup` and `restore` round-trip the demo data, table by table, on both databases."""

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from app import demo
from app.backup import service as backup_service
from app.cli import main
from app.config import get_settings
from app.db import make_engine, metadata


def _snapshot(database_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (and the schema revision), in primary-key order."""
    engine = make_engine(database_url)
    tables: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            order = ", ".join(f'"{c.name}"' for c in table.primary_key.columns)
            tables[table.name] = [
                tuple(r) for r in conn.execute(text(f'SELECT * FROM "{table.name}" ORDER BY {order}'))
            ]
        tables["alembic_version"] = [tuple(r) for r in conn.execute(text("SELECT * FROM alembic_version"))]
    engine.dispose()
    return tables


@pytest.fixture
def use_database(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Point the CLI's settings at a given database, as DATABASE_URL would."""

    def point_to(url: str) -> None:
        monkeypatch.setenv("DATABASE_URL", url)
        get_settings.cache_clear()

    yield point_to
    get_settings.cache_clear()


def test_backup_and_restore_round_trip_the_demo(
    session: Session,
    database_url: str,
    empty_database_url: str,
    tmp_path: Path,
    use_database: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    programme, _ = demo.seed(session)
    demo.seed_people(session, programme)
    demo.member_links(session, programme, base_url="http://test")
    session.commit()
    before = _snapshot(database_url)
    assert all(before[name] for name in ("response", "answer", "csf_rating", "member_link", "audit_event"))

    archive = tmp_path / "backup" / "demo.bak"
    use_database(database_url)
    assert main(["backup", str(archive)]) == 0
    assert archive.is_file() and "Backup written" in capsys.readouterr().out

    use_database(empty_database_url)
    assert main(["restore", str(archive)]) == 0
    assert _snapshot(empty_database_url) == before

    # Restoring over data needs saying so, and then brings back exactly the backup.
    assert main(["restore", str(archive)]) == 1
    assert "not empty" in capsys.readouterr().err
    engine = make_engine(empty_database_url)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM csf_rating"))
    engine.dispose()
    assert main(["restore", "--replace", str(archive)]) == 0
    assert _snapshot(empty_database_url) == before


def test_sqlite_backup_is_a_consistent_snapshot_while_a_write_is_in_flight(
    session: Session, tmp_path: Path, database_url: str
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's online backup; PostgreSQL relies on pg_dump's snapshot")
    demo.seed(session)
    session.commit()
    before = _snapshot(database_url)

    writer = sqlite3.connect(make_url(database_url).database, timeout=10)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("DELETE FROM answer")  # a member's request half done: not committed yet
    archive = backup_service.backup(database_url=database_url, destination=tmp_path / "live.db")
    writer.rollback()
    writer.close()
    assert _snapshot(f"sqlite:///{archive}") == before


def test_backup_refuses_to_overwrite_and_restore_needs_a_real_backup(
    database_url: str, tmp_path: Path, use_database: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    existing = tmp_path / "taken.bak"
    existing.write_text("something else")
    use_database(database_url)
    assert main(["backup", str(existing)]) == 1
    assert "exists already" in capsys.readouterr().err
    assert existing.read_text() == "something else"
    assert main(["restore", "--replace", str(tmp_path / "missing.bak")]) == 1
    assert "No backup file" in capsys.readouterr().err
