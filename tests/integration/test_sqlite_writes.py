"""SQLite: requests that read and then write, in several processes at once, queue instead of failing."""

import contextlib
import gc
import os
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import anyio
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session
from starlette.requests import Request

from app.db import (
    SQLITE_WRITE,
    begin_writing,
    database_work,
    end_writing,
    get_session,
    make_engine,
    sqlite_writer_turn,
    writes_begin_late,
)
from tests.support.sessions import post_session, turn_held_by_another_writer


def _read_then_write(url: str, *, immediate: bool, errors: list[Exception], hold: float) -> None:
    engine = make_engine(url)  # an engine per thread: like two app processes
    try:
        with engine.connect() as conn:
            if immediate:
                conn = conn.execution_options(**{SQLITE_WRITE: True})
            with conn.begin():
                count = conn.execute(text("SELECT count(*) FROM note")).scalar_one()
                time.sleep(hold)  # another request commits meanwhile
                conn.execute(text("INSERT INTO note (n) VALUES (:n)"), {"n": count})
    except OperationalError as exc:
        errors.append(exc)
    finally:
        engine.dispose()


def _race(url: str, *, immediate: bool) -> list[Exception]:
    errors: list[Exception] = []
    first = threading.Thread(
        target=_read_then_write, args=(url,), kwargs={"immediate": immediate, "errors": errors, "hold": 0.4}
    )
    second = threading.Thread(
        target=_read_then_write, args=(url,), kwargs={"immediate": immediate, "errors": errors, "hold": 0}
    )
    first.start()
    time.sleep(0.1)
    second.start()
    first.join()
    second.join()
    return errors


@pytest.fixture
def url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'race.db'}"
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE note (id INTEGER PRIMARY KEY, n INTEGER)"))
    engine.dispose()
    return url


def test_deferred_read_then_write_fails_when_another_process_committed(url: str) -> None:
    """The failure the write requests avoid (if this ever passes without errors, the other test proves less)."""
    errors = _race(url, immediate=False)
    assert errors and "locked" in str(errors[0])


def test_write_transactions_take_the_lock_up_front_and_both_succeed(url: str) -> None:
    assert _race(url, immediate=True) == []
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM note ORDER BY id")).scalars().all() == [0, 1]  # serialised
    engine.dispose()


def test_writers_of_one_process_take_turns_holding_no_connection_while_they_wait(url: str) -> None:
    engine = make_engine(url)
    turn = sqlite_writer_turn(engine)
    first = post_session(engine)
    session = next(first)
    session.connection().execute(text("INSERT INTO note (n) VALUES (1)"))
    assert turn.locked() and engine.pool.checkedout() == 1  # type: ignore[attr-defined]

    second_started = threading.Event()

    def second_writer() -> None:
        second = post_session(engine)
        next(second).connection().execute(text("INSERT INTO note (n) VALUES (2)"))
        second_started.set()
        with contextlib.suppress(StopIteration):
            next(second)  # commits

    waiting = threading.Thread(target=second_writer)
    waiting.start()
    assert not second_started.wait(0.3)  # queued on the turn, not on SQLite's busy_timeout...
    assert engine.pool.checkedout() == 1  # type: ignore[attr-defined]  # ...and holding no connection
    with contextlib.suppress(StopIteration):
        next(first)  # the first request commits and hands over the turn
    waiting.join(5)
    assert second_started.is_set() and not turn.locked()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM note ORDER BY id")).scalars().all() == [1, 2]
    engine.dispose()


# Another uvicorn worker, as a separate process: it takes the turn, then writes one row.
OTHER_WORKER = """
import sys
from sqlalchemy import text
from app.db import make_engine, sqlite_writer_turn
engine = make_engine(sys.argv[1])
print("ready", flush=True)
with sqlite_writer_turn(engine), engine.begin() as conn:
    conn.execute(text("INSERT INTO note (n) VALUES (2)"))
"""


def test_writers_of_other_processes_wait_for_the_turn_and_get_it_when_it_is_handed_over(url: str) -> None:
    """Holding only the turn (not yet SQLite's lock), so that nothing but the turn can hold the other back."""
    engine = make_engine(url)
    with sqlite_writer_turn(engine):
        other = subprocess.Popen([sys.executable, "-c", OTHER_WORKER, url], stdout=subprocess.PIPE, text=True)
        assert other.stdout is not None and other.stdout.readline() == "ready\n"
        with pytest.raises(subprocess.TimeoutExpired):
            other.wait(timeout=1)  # waits for the turn
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO note (n) VALUES (1)"))
    assert other.wait(timeout=30) == 0
    with engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM note ORDER BY id")).scalars().all() == [1, 2]
    engine.dispose()


def test_the_turn_file_is_closed_with_its_engine(url: str) -> None:
    """Each app has an engine, and the test suite makes hundreds: their turns must not keep a descriptor each."""
    open_files = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        engine = make_engine(url)
        with sqlite_writer_turn(engine):
            pass
        engine.dispose()
        del engine
    gc.collect()
    assert len(os.listdir("/proc/self/fd")) <= open_files


@writes_begin_late
def _late_writer() -> None:
    """Stands for a member's save in the test below."""


def test_a_request_cancelled_while_it_writes_rolls_back_and_hands_the_turn_on(url: str) -> None:
    """Cancelled (server shutting down, a task group cancelled): the session's end is shielded, so the writers'
    turn and the connection are not left held, which would stop every later writer of the process."""
    engine = make_engine(url)
    turn = sqlite_writer_turn(engine)
    app = SimpleNamespace(state=SimpleNamespace(engine=engine))
    scope = {"type": "http", "method": "POST", "app": app, "headers": [], "endpoint": _late_writer}

    async def cancelled_request() -> None:
        request_session = get_session(Request(scope))
        session = await request_session.__anext__()
        await anyio.to_thread.run_sync(begin_writing, session)
        await anyio.to_thread.run_sync(lambda: session.connection().execute(text("INSERT INTO note (n) VALUES (1)")))
        assert turn.locked()
        with anyio.CancelScope() as cancelled:
            cancelled.cancel()
            try:
                await anyio.sleep(0)  # where the cancellation reaches the handler
            except anyio.get_cancelled_exc_class() as exc:
                await request_session.athrow(exc)  # as FastAPI passes the handler's exception to the dependency
        assert cancelled.cancelled_caught

    # In a thread of its own: after a browser test in this process, Playwright keeps an event loop running in
    # the main thread, where anyio.run() refuses to start (as tests/durability does).
    with ThreadPoolExecutor(1) as pool:
        pool.submit(anyio.run, cancelled_request).result()
    assert not turn.locked() and engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM note")).scalar_one() == 0
    engine.dispose()


# --- A member's requests run their database work in the event loop (app.db.database_work) --------------------


def _late_request(engine: object) -> Request:
    app = SimpleNamespace(state=SimpleNamespace(engine=engine))
    return Request({"type": "http", "method": "POST", "app": app, "headers": [], "endpoint": _late_writer})


def _in_own_thread(test: Callable[[], Awaitable[None]]) -> None:
    """anyio.run in a thread of its own (see the test above)."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(anyio.run, test).result()


def test_a_late_writer_in_the_event_loop_waits_for_a_thread_that_holds_the_turn_without_blocking_the_loop(
    url: str,
) -> None:
    """A staff write runs in the thread pool and holds the turn across its trips through the event loop; a
    member's save run in that loop must wait for it there without blocking the loop, or neither would end."""
    engine = make_engine(url)
    turn = sqlite_writer_turn(engine)

    @database_work
    def save(session: Session) -> int:
        begin_writing(session)
        session.connection().execute(text("INSERT INTO note (n) VALUES (1)"))
        assert turn.locked()
        end_writing(session)
        return threading.get_ident()

    async def member_request(release: threading.Event) -> None:
        request_session = get_session(_late_request(engine))
        session = await request_session.__anext__()
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tasks:
                saved: list[int] = []

                async def run_save() -> None:
                    saved.append(await save(session))

                tasks.start_soon(run_save)
                await anyio.sleep(0.3)  # the loop runs on while the save waits...
                assert not saved
                release.set()  # ...until the staff writer hands the turn on
        assert saved == [threading.get_ident()]  # the save ran in the event loop's thread
        with contextlib.suppress(StopAsyncIteration):
            await request_session.__anext__()

    with turn_held_by_another_writer(turn) as release:  # a staff write, in a thread of the pool
        _in_own_thread(lambda: member_request(release))
    assert not turn.locked()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM note")).scalars().all() == [1]
    engine.dispose()


def test_a_late_writer_in_the_event_loop_that_fails_after_its_writes_began_keeps_the_turn_until_it_rolled_back(
    url: str,
) -> None:
    """Between the failing work and the end of its session no other writer of the process may begin: its
    uncommitted writes still hold SQLite's lock, which a writer in the same loop would wait for forever."""
    engine = make_engine(url)
    turn = sqlite_writer_turn(engine)

    @database_work
    def failing_save(session: Session) -> None:
        begin_writing(session)
        session.connection().execute(text("INSERT INTO note (n) VALUES (1)"))
        raise ValueError("a bug after the writes began")

    async def member_request() -> None:
        request_session = get_session(_late_request(engine))
        session = await request_session.__anext__()
        with pytest.raises(ValueError) as failed:
            await failing_save(session)
        assert turn.locked()  # kept, both parts, past the work that failed...
        with pytest.raises(ValueError):
            await request_session.athrow(failed.value)  # ...until the session ends (rolled back)
        assert not turn.locked()

    _in_own_thread(member_request)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM note")).scalar_one() == 0
    engine.dispose()
