"""The practical ceiling of the stack: FastAPI + SQLAlchemy + the same database settings, one insert per
request, nothing else (no auth, no session cookie, no validation beyond the body). The load benchmark runs
it beside ClusterScore on the same database and compares."""

import os
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, insert
from sqlalchemy.engine import Engine

from app.db import make_engine

metadata = MetaData()
saves = Table(
    "bench_minimal_save",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("member", Integer, nullable=False),
    Column("payload", String(2000), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)


class Save(BaseModel):
    member: int
    payload: str


def create_table(database_url: str) -> None:
    """Before the workers start, so that they do not race each other to create it."""
    engine = make_engine(database_url)
    metadata.create_all(engine)
    engine.dispose()


def create_app() -> FastAPI:
    """For `uvicorn --factory bench.minimal_app:create_app`, with DATABASE_URL set (bench/load.py does it)."""
    engine: Engine = make_engine(os.environ["DATABASE_URL"])
    metadata.create_all(engine)
    app = FastAPI()

    @app.post("/save")
    def save(data: Save) -> dict[str, Any]:
        with engine.begin() as conn:
            result = conn.execute(insert(saves).values(member=data.member, payload=data.payload, at=datetime.now(UTC)))
        return {"id": result.inserted_primary_key[0] if result.inserted_primary_key else None}

    return app
