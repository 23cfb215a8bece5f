"""SQLite: requests that read and then write, in several processes at once, queue instead of failing."""

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from app.db import SQLITE_WRITE, make_engine


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
