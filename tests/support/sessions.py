"""The request-scoped database session as the app's dependency opens and ends it, for tests that drive it by
hand (from threads of their own, where the dependency would run its parts in the thread pool), and another
writer holding SQLite's writers' turn meanwhile."""

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from app.db import SqliteWriterTurn, end_request_session, open_request_session


def post_session(engine: Engine, *, endpoint: Callable[..., Any] | None = None) -> Iterator[Session]:
    """The session of a POST to `endpoint` (a route function; None: any route that changes data)."""
    session, held = open_request_session(engine, "POST", endpoint)
    try:
        yield session
    except BaseException:
        end_request_session(session, held, commit=False)
        raise
    end_request_session(session, held, commit=True)


@contextmanager
def turn_held_by_another_writer(turn: SqliteWriterTurn) -> Iterator[threading.Event]:
    """A writer in a thread of its own holds the turn until the event given is set (at the latest, as the block
    ends, which waits for it to hand the turn on)."""
    holding, release = threading.Event(), threading.Event()

    def other_writer() -> None:
        with turn:
            holding.set()
            release.wait(10)

    other = threading.Thread(target=other_writer)
    other.start()
    assert holding.wait(5)
    try:
        yield release
    finally:
        release.set()
        other.join(5)
