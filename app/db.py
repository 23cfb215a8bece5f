"""Engine factory and the request's session, which owns the request's transaction.

Services flush, never commit: `get_session` commits once when the handler has succeeded and rolls back on any
error, so a failed request writes nothing at all. SQLite for one process, PostgreSQL beyond (README, Deployment).
"""

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, nullcontext
from pathlib import Path
from typing import Any

import anyio
from fastapi import Request
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, SQLModel, create_engine
from starlette.concurrency import run_in_threadpool

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION
metadata: MetaData = SQLModel.metadata

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Execution option of a session that changes data: on SQLite its transaction begins IMMEDIATE.
WRITES = "clusterscore_writes"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # busy_timeout: a writer waits for the lock instead of failing; 30 s covers a queue of writers at a workshop
    # deadline on a small machine. WAL: readers (the live dashboard) run beside the one writer.
    # synchronous=NORMAL loses nothing on a process crash (tests/durability), only the last commits on power loss.
    # isolation_level=None switches the driver's own BEGIN off: _sqlite_begin starts every transaction.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    # A deferred transaction that reads and then writes fails at once ("database is locked") when another
    # connection committed in between: waiting could not help, its snapshot is stale. A session that changes
    # data therefore takes the write lock as it begins, and waits for it on busy_timeout; reads never wait.
    immediate = connection.get_execution_options().get(WRITES, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


# PostgreSQL connections per process for requests (POOL_SIZE) and for the sessions the rate limiter and the
# benchmark refresher open of their own (the overflow). SQLite's connections are files: no limit.
POOL_SIZE, POOL_OVERFLOW = 10, 5


def make_engine(database_url: str) -> Engine:
    if database_url.startswith("sqlite"):
        path = database_url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(database_url, connect_args={"check_same_thread": False}, pool_size=10, max_overflow=-1)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(database_url, pool_pre_ping=True, pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW)


class DatabaseTurns:
    """Where a request waits for the database before its session begins: in the event loop, holding nothing.

    Waiting in a worker thread (for a pooled connection, or SQLite's busy_timeout) holds a thread the request
    waited for may need next: under a burst every request stalled (docs/benchmarks.md). PostgreSQL: POOL_SIZE
    sessions at once per process; SQLite: one request that changes data at a time, reads do not wait. Bodies
    are read before (app.request_body), so a slow client never holds a turn.
    """

    def __init__(self, engine: Engine) -> None:
        self._sqlite = engine.dialect.name == "sqlite"
        self._turns = anyio.Semaphore(1 if self._sqlite else POOL_SIZE)

    def turn(self, *, writes: bool) -> AbstractAsyncContextManager[Any]:
        return nullcontext() if self._sqlite and not writes else self._turns


def open_session(engine: Engine, *, writes: bool) -> Session:
    """A session; one that `writes` takes SQLite's write lock as its transaction begins (its first statement)."""
    return Session(engine.execution_options(**{WRITES: True}) if writes else engine, expire_on_commit=False)


async def get_session(request: Request) -> AsyncIterator[Session]:
    """The request's session: committed when the handler succeeded, rolled back on any error."""
    writes = request.method not in SAFE_METHODS
    turns: DatabaseTurns = request.app.state.database_turns
    async with turns.turn(writes=writes):
        session = open_session(request.app.state.engine, writes=writes)
        try:
            yield session
        except BaseException:
            await _end(session, commit=False)
            raise
        await _end(session, commit=True)


def _commit_or_roll_back(session: Session, *, commit: bool) -> None:
    with session:  # closing gives the connection back, rolled back if it was not committed
        if commit:
            session.commit()


async def _end(session: Session, *, commit: bool) -> None:
    # Shielded: a request cancelled now (a shutdown) must still end its transaction, or on SQLite every
    # other writer would wait for it.
    with anyio.CancelScope(shield=True):
        await run_in_threadpool(_commit_or_roll_back, session, commit=commit)
