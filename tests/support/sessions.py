"""The request-scoped database session as the app's dependency opens it, for tests that drive it by hand."""

from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.requests import Request

from app.db import get_session


def post_session(engine: Engine, *, endpoint: Callable[..., Any] | None = None) -> Iterator[Session]:
    """The session of a POST to `endpoint` (a route function; None: any route that changes data)."""
    app = SimpleNamespace(state=SimpleNamespace(engine=engine))
    return get_session(Request({"type": "http", "method": "POST", "app": app, "headers": [], "endpoint": endpoint}))
