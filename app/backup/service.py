"""Backups while the app runs, and restoring them: SQLite through its online-backup API, PostgreSQL through
pg_dump/pg_restore (the client binaries must be on PATH, at least the server's major version).

A SQLite backup copies every page in one step inside one read transaction, so it is a consistent snapshot
of committed data even while members autosave (WAL lets the writer go on meanwhile). A PostgreSQL backup is
pg_dump's custom format, also a consistent snapshot (one repeatable-read transaction).
"""

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.engine import URL, make_url

from app.db import make_engine


class BackupError(Exception):
    """A backup or restore that could not be done, with a message for the operator."""


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError("An in-memory SQLite database cannot be backed up.")
    return Path(url.database)


def _pg_env(url: URL) -> dict[str, str]:
    """libpq reads the connection from the environment: the password never shows in `ps`."""
    env = dict(os.environ)
    for key, value in {
        "PGHOST": url.host,
        "PGPORT": str(url.port) if url.port else None,
        "PGUSER": url.username,
        "PGPASSWORD": url.password,
        "PGDATABASE": url.database,
    }.items():
        if value:
            env[key] = str(value)
    return env


def _run(tool: str, args: list[str], env: dict[str, str]) -> None:
    binary = shutil.which(tool)
    if binary is None:
        raise BackupError(f"{tool} is not installed; install the PostgreSQL client tools (e.g. postgresql-client).")
    result = subprocess.run([binary, *args], env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BackupError(f"{tool} failed: {result.stderr.strip() or result.stdout.strip()}")


def is_empty(database_url: str) -> bool:
    """True when the database has no tables at all (a fresh one to restore into)."""
    engine = make_engine(database_url)
    try:
        return not inspect(engine).get_table_names()
    finally:
        engine.dispose()


def backup(*, database_url: str, destination: Path) -> Path:
    """Write a consistent copy of the database to `destination` (a SQLite file, or a pg_dump archive)."""
    url = make_url(database_url)
    destination.parent.mkdir(parents=True, exist_ok=True)
    if destination.exists():
        raise BackupError(f"{destination} exists already; choose a new file name.")
    if url.get_backend_name() == "sqlite":
        source_path = _sqlite_path(url)
        if not source_path.exists():
            raise BackupError(f"No database at {source_path}.")
        partial = destination.with_name(destination.name + ".partial")
        source = sqlite3.connect(source_path, timeout=30)
        target = sqlite3.connect(partial)
        try:
            source.backup(target)  # pages=-1: every page in one step, one consistent snapshot
        finally:
            target.close()
            source.close()
        partial.replace(destination)  # a crash mid-backup never leaves a file that looks complete
        return destination
    if url.get_backend_name() == "postgresql":
        _run("pg_dump", ["--format=custom", "--no-owner", "--no-privileges", f"--file={destination}"], _pg_env(url))
        return destination
    raise BackupError(f"Backups are not supported for {url.get_backend_name()}.")


def restore(*, database_url: str, source: Path, replace: bool = False) -> None:
    """Bring a backup back into `database_url`; refuses a database with tables unless `replace` is set.

    Stop the app first: requests served during a restore would see half of the old and half of the new data.
    """
    url = make_url(database_url)
    if not source.is_file():
        raise BackupError(f"No backup file at {source}.")
    if url.get_backend_name() == "sqlite":
        _sqlite_path(url).parent.mkdir(parents=True, exist_ok=True)
    if not replace and not is_empty(database_url):
        raise BackupError("The target database is not empty; pass --replace to overwrite it.")
    if url.get_backend_name() == "sqlite":
        backup_db = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        target = sqlite3.connect(_sqlite_path(url), timeout=30)
        try:
            if backup_db.execute("PRAGMA integrity_check").fetchone() != ("ok",):
                raise BackupError(f"{source} is not an intact SQLite database.")
            backup_db.backup(target)
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{source} is not a SQLite backup ({exc}).") from exc
        finally:
            target.close()
            backup_db.close()
        return
    if url.get_backend_name() == "postgresql":
        args = ["--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error"]
        if replace:
            args += ["--clean", "--if-exists"]
        _run("pg_restore", [*args, f"--dbname={url.database}", str(source)], _pg_env(url))
        return
    raise BackupError(f"Restoring is not supported for {url.get_backend_name()}.")
