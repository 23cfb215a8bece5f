"""Engine factory and the request-scoped session that owns the transaction.

Services flush but never commit: the session dependency commits once when the handler
succeeds and rolls back on any error, so a failed request writes nothing at all. The one
exception, a member's save (`writes_begin_late`), commits where its writes end
(`end_writing`), still before its reply is sent.
"""

import asyncio
import fcntl
import functools
import os
import threading
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import ExitStack, asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, ParamSpec, TypeVar

import anyio
from fastapi import Request
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, SQLModel, create_engine
from starlette.concurrency import run_in_threadpool
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


# Connections per process, kept open (overflow connections would be opened and closed on every request). The
# app admits as many requests at a time (Settings.requests_per_worker, RequestLimit below), so a request never
# waits for a connection while holding a worker thread.
POOL_SIZE = 4
POOL_OVERFLOW = 0


def make_engine(database_url: str, *, pool_size: int = POOL_SIZE) -> Engine:
    if database_url.startswith("sqlite"):
        path = database_url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            database_url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=pool_size,
            max_overflow=POOL_OVERFLOW,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(database_url, pool_pre_ping=True, pool_size=pool_size, max_overflow=POOL_OVERFLOW)


class RequestLimit:
    """At most `limit` requests in the app at once; the rest wait in the event loop, holding nothing.

    Sync dependencies and handlers run on a pool of 40 threads. Without a limit, a burst of requests (100
    members autosaving at a deadline) leaves every thread waiting for a database connection while the
    requests that hold the connections wait for a thread: nothing moves until the pool times out (seen in
    bench/load.py). With no more requests admitted than there are connections and threads, that cannot
    happen. Admitting few is also faster: requests in threads beside each other hand the GIL around (on
    PostgreSQL 78 context switches per member request with 30 admitted, 40 with 8, 27 with 4; bench/load.py).
    """

    def __init__(self, app: ASGIApp, *, limit: int, skip_prefix: str = "/static/") -> None:
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


class SqliteWriterTurn:
    """Writers take turns before they ask SQLite for its write lock: the threads of a process on a lock, the
    processes (uvicorn workers) on an exclusive `flock` of a file beside the database (SQLite only).

    SQLite's own wait (busy_timeout) polls, sleeping up to 100 ms between tries, so under a burst of
    autosaves most of a request's time was spent asleep with the lock free (bench/load.py; py-spy showed
    80 % of busy samples in BEGIN IMMEDIATE), and a second worker gained nothing. A lock hands the turn over
    the moment the last writer commits, within a process and across them; the kernel releases a `flock`
    when its process dies, so a crashed worker never keeps the turn. PostgreSQL needs none of this.
    """

    def __init__(self, database_file: Path | None) -> None:
        self._threads = threading.Lock()
        self._turn_file = database_file.with_name(database_file.name + "-writer-turn") if database_file else None
        self._fd: int | None = None
        self._fd_pid = 0

    def _process_fd(self) -> int | None:
        # Opened by each process itself: a descriptor inherited across fork() would share its lock.
        if self._turn_file is not None and self._fd_pid != os.getpid():
            self._fd, self._fd_pid = os.open(self._turn_file, os.O_RDWR | os.O_CREAT, 0o600), os.getpid()
            weakref.finalize(self, os.close, self._fd)  # with its engine (tests make hundreds)
        return self._fd

    def locked(self) -> bool:
        return self._threads.locked()

    def __enter__(self) -> None:
        self._threads.acquire()
        try:
            self.lock_processes()
        except BaseException:
            self._threads.release()
            raise

    def __exit__(self, *_exc: object) -> None:
        try:
            self.unlock_processes()
        finally:
            self._threads.release()

    def lock_processes(self) -> None:
        """The other processes' part alone, for a caller that holds this process's part (`take_threads_part`)."""
        fd = self._process_fd()
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)

    def unlock_processes(self) -> None:
        if self._fd is not None and self._fd_pid == os.getpid():
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    async def take_threads_part(self) -> None:
        """This process's part alone, waited for without blocking the event loop, for a writer whose work runs
        in the loop (`database_work`): blocking the loop on a lock that a thread-pool writer holds across its
        trips through the loop would never end. Free almost always; when a thread holds it, a thread waits
        for it (shielded: a cancelled request must not leave it taken)."""
        if not self._threads.acquire(blocking=False):
            with anyio.CancelScope(shield=True):
                await run_in_threadpool(self._threads.acquire)

    def release_threads_part(self) -> None:
        self._threads.release()


_SQLITE_WRITERS: weakref.WeakKeyDictionary[Engine, SqliteWriterTurn] = weakref.WeakKeyDictionary()
_SQLITE_WRITERS_GUARD = threading.Lock()


def sqlite_writer_turn(engine: Engine) -> SqliteWriterTurn:
    """The writers' turn of this engine's database file (one per engine and process)."""
    with _SQLITE_WRITERS_GUARD:
        turn = _SQLITE_WRITERS.get(engine)
        if turn is None:
            database = engine.url.database
            file = Path(database).resolve() if database and database != ":memory:" else None
            turn = _SQLITE_WRITERS[engine] = SqliteWriterTurn(file)
    return turn


# Routes whose writes begin late (see writes_begin_late); session.info holds their place in the turn.
_LATE_WRITERS: set[Callable[..., Any]] = set()
_PENDING_TURN = "sqlite_pending_writer_turn"
_HELD_TURN = "sqlite_held_writer_turn"
_WRITES_ENDED = "writes_ended"
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


def writes_begin_late(endpoint: Endpoint) -> Endpoint:
    """A route that reads first and writes between `begin_writing` and `end_writing` (SQLite; PostgreSQL needs
    neither, and they only commit there).

    A write request holds the writers' turn from its first statement to its commit; for a member's autosave
    that spanned the session cookie, the round, the scorecard, the reply's rendering and five thread-pool
    trips, while every other writer of every worker waited (bench/load.py: the turn was held 77 % of a
    capacity run, and with two workers, which share it, all of it). Routes marked here read without the turn,
    take it in `begin_writing`, before their first change, read again there what their writes depend on, and
    hand it on in `end_writing`, as soon as their writes are committed.
    """
    _LATE_WRITERS.add(endpoint)
    return endpoint


class _TurnTicket:
    """One request's place in the writers' turn: taken by begin_writing, handed on by end_writing or, at the
    latest, when the request's session closes (an error on the way)."""

    def __init__(self, turn: SqliteWriterTurn) -> None:
        self.turn, self.held, self._threads_part_held = turn, False, False

    @asynccontextmanager
    async def around_loop_work(self) -> AsyncIterator[None]:
        """Around the request's work in the event loop (`database_work`): this process's part of the turn,
        waited for without blocking the loop. If the work begins its writes, `take` adds the other processes'
        part and the ticket keeps the whole turn from then on: a request that fails between its writes and the
        end of its session keeps every other writer of the process out until its rollback, as one whose work
        runs in a thread does."""
        if self.held:
            yield
            return
        await self.turn.take_threads_part()
        self._threads_part_held = True
        try:
            yield
        finally:
            if self._threads_part_held:  # not taken over by begin_writing: its writes never began
                self._threads_part_held = False
                self.turn.release_threads_part()

    def take(self) -> None:
        if self._threads_part_held:
            self.turn.lock_processes()
            self._threads_part_held = False
        else:
            self.turn.__enter__()
        self.held = True

    def hand_on(self) -> None:
        if self.held:
            self.held = False
            self.turn.__exit__()


def open_request_session(engine: Engine, method: str, endpoint: Any) -> tuple[Session, ExitStack]:
    """A request's session and what it holds (the SQLite writers' turn, or a late writer's place in it), to
    be ended by `end_request_session`. It waits and does database work only for a write that takes the turn
    up front (`takes_turn_up_front`)."""
    up_front = takes_turn_up_front(engine, method, endpoint)
    late = _sqlite_write(engine, method) and not up_front
    held = ExitStack()
    try:
        if up_front:
            # Taken before a connection is checked out, so a request waiting for its turn holds nothing.
            held.enter_context(sqlite_writer_turn(engine))
        ticket = _TurnTicket(sqlite_writer_turn(engine)) if late else None
        if ticket is not None:
            held.callback(ticket.hand_on)
        session = held.enter_context(Session(engine, expire_on_commit=False))
        if ticket is not None:
            session.info[_PENDING_TURN] = ticket
        elif up_front:
            session.connection(execution_options={SQLITE_WRITE: True})
    except BaseException:
        held.close()
        raise
    return session, held


def _sqlite_write(engine: Engine, method: str) -> bool:
    return engine.dialect.name == "sqlite" and method not in SAFE_METHODS


def takes_turn_up_front(engine: Engine, method: str, endpoint: Any) -> bool:
    """A SQLite request that changes data and does not begin its writes late: it waits for the writers' turn
    and begins its write transaction as its session opens."""
    return _sqlite_write(engine, method) and endpoint not in _LATE_WRITERS


def end_request_session(session: Session, held: ExitStack, *, commit: bool) -> None:
    """Commits (or rolls back), closes the session and hands the writers' turn on."""
    with held:
        if not commit:
            session.rollback()
            return
        try:
            session.commit()
        except BaseException:
            session.rollback()
            raise


def _has_changes(session: Session) -> bool:
    return bool(session.new or session.dirty or session.deleted)


def _ends_without_database_work(session: Session) -> bool:
    # No transaction and nothing to flush: it holds no connection (a late writer after end_writing, whose
    # reply read nothing more), so committing and closing it only tidy up in memory.
    return not (session.in_transaction() or _has_changes(session))


@dataclass(frozen=True)
class _RequestWork:
    """Where this request's database work runs (`database_work`), set by its session for what comes after."""

    in_event_loop: bool
    ticket: _TurnTicket | None  # a late writer's place in the writers' turn


# Each request runs in a task of its own, with a copy of the context: what one sets here no other request sees.
_REQUEST_WORK: ContextVar[_RequestWork | None] = ContextVar("request_work", default=None)


async def get_session(request: Request) -> AsyncIterator[Session]:
    """Opened and ended in the event loop when that does no database work or the database is SQLite, else in
    the thread pool: each trip through the pool costs a request CPU and a wait for the GIL (bench/load.py),
    and a sync generator would make two (in and out) on every request. A write that takes the turn up front
    waits for it in a thread, holding no loop."""
    engine: Engine = request.app.state.engine
    method, endpoint = request.method, request.scope.get("endpoint")
    if takes_turn_up_front(engine, method, endpoint):
        # Shielded, here and in _end: a request cancelled in between must not leave the turn or a connection held.
        with anyio.CancelScope(shield=True):
            session, held = await run_in_threadpool(open_request_session, engine, method, endpoint)
    else:
        session, held = open_request_session(engine, method, endpoint)
    in_event_loop = engine.dialect.name == "sqlite"
    _REQUEST_WORK.set(_RequestWork(in_event_loop, session.info.get(_PENDING_TURN)))
    try:
        yield session
    except BaseException:
        await _end(session, held, commit=False, in_event_loop=in_event_loop)
        raise
    await _end(session, held, commit=True, in_event_loop=in_event_loop)


async def _end(session: Session, held: ExitStack, *, commit: bool, in_event_loop: bool) -> None:
    if in_event_loop or _ends_without_database_work(session):
        end_request_session(session, held, commit=commit)
    else:
        with anyio.CancelScope(shield=True):
            await run_in_threadpool(end_request_session, session, held, commit=commit)


Params = ParamSpec("Params")
Result = TypeVar("Result")
Value = TypeVar("Value")


class Deferred(Generic[Value]):
    """A dependency's database work, done where the handler that receives it does its own (`database_work`):
    on PostgreSQL one trip through the thread pool for both instead of one each."""

    def __init__(self, load: Callable[[], Value]) -> None:
        self._load = load

    @functools.cached_property
    def value(self) -> Value:
        return self._load()


def database_work(function: Callable[Params, Result]) -> Callable[Params, Awaitable[Result]]:
    """A sync dependency or handler of the requests members send most, run where its database work costs the
    least: on SQLite in the event loop, on PostgreSQL in the thread pool, as FastAPI would run it.

    SQLite is a library in the process: its statements take microseconds, while a trip through the thread
    pool, and every statement a thread runs beside others, hands the GIL from thread to thread, with a
    context switch each time (35 per member request under load, against 1 in the loop; bench/load.py, in
    docs/benchmarks.md). PostgreSQL's statements wait on the network, which the loop must not. Work run in
    the loop must be short, as the member's requests are: a worker serves nothing else meanwhile.

    Arguments that are `Deferred` (from a dependency) are loaded first, in the same place. A late writer
    (`writes_begin_late`) holds this process's part of the writers' turn around its work, so that its
    begin_writing, in the loop, only waits for another process's writer, whose writes end without this loop.
    """

    def call(*args: Params.args, **kwargs: Params.kwargs) -> Result:
        loaded = {name: value.value if isinstance(value, Deferred) else value for name, value in kwargs.items()}
        return function(*args, **loaded)  # type: ignore[arg-type]

    @functools.wraps(function)
    async def run(*args: Params.args, **kwargs: Params.kwargs) -> Result:
        work = _REQUEST_WORK.get()
        if work is None or not work.in_event_loop:
            return await run_in_threadpool(call, *args, **kwargs)
        if work.ticket is None:
            return call(*args, **kwargs)
        async with work.ticket.around_loop_work():
            return call(*args, **kwargs)

    return run


def begin_writing(session: Session) -> bool:
    """Where a `writes_begin_late` request starts to write: ends its read transaction (whose snapshot may be
    older than another writer's commit), waits for the writers' turn holding no connection, and begins the
    write transaction. True when it did so: what the caller read before must then be read again.
    Elsewhere (PostgreSQL, other routes, a second call) it does nothing."""
    ticket: _TurnTicket | None = session.info.pop(_PENDING_TURN, None)
    if ticket is None:
        return False
    session.commit()
    ticket.take()
    session.info[_HELD_TURN] = ticket
    session.connection(execution_options={SQLITE_WRITE: True})
    return True


def end_writing(session: Session) -> None:
    """Where a `writes_begin_late` request's writes end: commits them and hands the writers' turn on before
    the reply is rendered; the request may still read, not change anything."""
    session.commit()
    ticket: _TurnTicket | None = session.info.pop(_HELD_TURN, None)
    if ticket is not None:
        ticket.hand_on()
    session.info[_WRITES_ENDED] = True


@event.listens_for(Session, "before_flush")
def _no_change_outside_the_writes(session: Session, _flush: Any, _instances: Any) -> None:
    # A change flushed in a read transaction would fail when another writer commits first ("database is locked").
    if not _has_changes(session):
        return
    if _PENDING_TURN in session.info:
        raise RuntimeError("This request changes data before begin_writing(session): call it first.")
    if _WRITES_ENDED in session.info:
        raise RuntimeError("This request changes data after end_writing(session): its writes are committed.")
