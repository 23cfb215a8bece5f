"""Where a member request's database work runs (app.db.database_work): in the event loop on SQLite, whose
statements take microseconds, in the thread pool on PostgreSQL, whose statements wait on the network."""

import threading
from typing import Annotated

from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine

from app.db import database_work
from app.deps import SessionDep


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
