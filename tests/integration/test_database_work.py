"""Where a member request's database work runs (app.db.database_work): in the event loop on SQLite, whose
statements take microseconds, in the thread pool on PostgreSQL, whose statements wait on the network."""

import inspect
import threading
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine

from app.db import database_work
from app.deps import SessionDep
from app.responses.pages import _member_form, pages


def test_database_work_runs_in_the_event_loop_on_sqlite_only(app: FastAPI, client: TestClient, engine: Engine) -> None:
    async def loop_thread() -> int:
        return threading.get_ident()

    @database_work
    def work(session: SessionDep) -> int:
        session.connection().execute(text("SELECT 1"))
        return threading.get_ident()

    @app.get("/test-where")
    async def where(loop: Annotated[int, Depends(loop_thread)], worker: Annotated[int, Depends(work)]) -> bool:
        return loop == worker

    assert client.get("/test-where").json() is (engine.dialect.name == "sqlite")


def _calls(dependant: Dependant) -> set[Callable[..., Any]]:
    found = {dependant.call} if dependant.call is not None else set()
    for dependency in dependant.dependencies:
        found |= _calls(dependency)
    return found


def test_every_route_given_the_member_form_loads_it_with_its_own_database_work() -> None:
    """The form dependency defers its loading to the handler (app.db.Deferred): a handler that is not a
    `database_work` would get the deferred loader instead of the form."""
    routes = [r for r in pages.routes if isinstance(r, APIRoute) and _member_form in _calls(r.dependant)]
    assert len(routes) >= 9
    plain = [r.path for r in routes if not hasattr(r.endpoint, "__wrapped__")]
    assert plain == []
    assert all(inspect.iscoroutinefunction(r.endpoint) for r in routes)
