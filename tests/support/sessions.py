"""The request-scoped database session as the app's dependency opens and ends it, for tests that drive it by
hand (from threads of their own, where the dependency would run its parts in the thread pool)."""

from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from app.db import end_request_session, open_request_session


def post_session(engine: Engine, *, endpoint: Callable[..., Any] | None = None) -> Iterator[Session]:
    """The session of a POST to `endpoint` (a route function; None: any route that changes data)."""
    session, held = open_request_session(engine, "POST", endpoint)
    try:
        yield session
    except BaseException:
        end_request_session(session, held, commit=False)
        raise
    end_request_session(session, held, commit=True)
