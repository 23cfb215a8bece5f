"""Engine factory and the request-scoped session that owns the transaction.

Services flush but never commit: the session dependency commits once when the handler
succeeds and rolls back on any error, so a failed request writes nothing at all.
"""

import asyncio
import threading
import weakref
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from fastapi import Request
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, SQLModel, create_engine
from starlette.types import ASGIApp, Receive, Scope, Send

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION
metadata: MetaData = SQLModel.metadata


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers (the live dashboard) run beside the writer (autosaving members);
    # synchronous=NORMAL in WAL mode loses nothing on a process crash (tests/durability kills the server to
    # prove it), only the last commits on power loss or an OS crash; FULL would fsync every commit.
    # busy_timeout makes concurrent writers wait instead of failing with "database is locked"; 30 s because at
    # a workshop deadline on a busy 2-core host a writer can queue behind many others (bench/load.py).
    # The driver's own BEGIN is switched off: _sqlite_begin starts every transaction (see there).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


SQLITE_WRITE = "sqlite_write"


def _sqlite_begin(connection: Connection) -> None:
    # A deferred transaction that reads and then writes must upgrade its lock; when another process has
    # committed in between, SQLite fails it at once ("database is locked": busy_timeout cannot help, waiting
    # would break the snapshot). Requests that change data therefore take the write lock up front and queue
    # on busy_timeout; reads stay deferred and never wait for writers.
    immediate = connection.get_execution_options().get(SQLITE_WRITE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


# Connections per process. Requests that may touch the database are admitted at most this many at a time
# (RequestLimit below), so a request never waits for a connection while holding a worker thread.
POOL_SIZE = 30
POOL_OVERFLOW = 0
POOL_CAPACITY = POOL_SIZE + POOL_OVERFLOW


def make_engine(database_url: str) -> Engine:
    if database_url.startswith("sqlite"):
        path = database_url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            database_url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=POOL_SIZE,
            max_overflow=POOL_OVERFLOW,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(database_url, pool_pre_ping=True, pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW)


class RequestLimit:
    """At most `limit` requests in the app at once; the rest wait in the event loop, holding nothing.

    Sync dependencies and handlers run on a pool of 40 threads. Without a limit, a burst of requests (100
    members autosaving at a deadline) leaves every thread waiting for a database connection while the
    requests that hold the connections wait for a thread: nothing moves until the pool times out (seen in
    bench/load.py). With no more requests admitted than there are connections, that cannot happen.
    """

    def __init__(self, app: ASGIApp, *, limit: int = POOL_CAPACITY, skip_prefix: str = "/static/") -> None:
        self.app, self.limit, self.skip_prefix = app, limit, skip_prefix
        self._slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.skip_prefix):
            await self.app(scope, receive, send)
            return
        # One semaphore per event loop: test clients start a loop each; uvicorn runs one per worker.
        loop = asyncio.get_running_loop()
        slots = self._slots.get(loop) or self._slots.setdefault(loop, asyncio.Semaphore(self.limit))
        async with slots:
            await self.app(scope, receive, send)


SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
_SQLITE_WRITERS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_SQLITE_WRITERS_GUARD = threading.Lock()


def sqlite_writer_turn(engine: Engine) -> threading.Lock:
    """Writers of one process take turns on a lock before they ask SQLite for its write lock (SQLite only).

    SQLite's own wait (busy_timeout) polls, sleeping up to 100 ms between tries, so under a burst of
    autosaves most of a request's time was spent asleep with the lock free (bench/load.py; py-spy showed
    80 % of busy samples in BEGIN IMMEDIATE). A lock in the process hands the turn over the moment the last
    writer commits. Other processes still queue through busy_timeout; PostgreSQL needs none of this.
    """
    with _SQLITE_WRITERS_GUARD:
        turn = _SQLITE_WRITERS.get(engine) or _SQLITE_WRITERS.setdefault(engine, threading.Lock())
    return turn


def get_session(request: Request) -> Iterator[Session]:
    engine: Engine = request.app.state.engine
    writes = engine.dialect.name == "sqlite" and request.method not in SAFE_METHODS
    # Taken before a connection is checked out, so a request waiting for its turn holds nothing.
    with sqlite_writer_turn(engine) if writes else nullcontext(), Session(engine, expire_on_commit=False) as session:
        if writes:
            session.connection(execution_options={SQLITE_WRITE: True})
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
