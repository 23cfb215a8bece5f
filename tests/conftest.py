"""Test databases: every test gets a clean one, on SQLite always and on PostgreSQL when reachable.

Both are built by running the Alembic migrations (so tests see the schema production sees).
SQLite: migrated once into a template file that each test copies. PostgreSQL: migrated once
per worker, and every table truncated after each test.
"""

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import settings
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from app import migrate
from app.config import ROOT, Settings
from app.db import make_engine, metadata
from app.main import create_app

# The same examples on every run, so CI fails only on a change; HYPOTHESIS_PROFILE=explore searches anew.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _postgres_unreachable_reason() -> str | None:
    try:
        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3):
            return None
    except Exception as exc:  # any failure means: skip, and say why
        return f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL} ({exc.__class__.__name__}); set TEST_POSTGRES_URL"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "migrated.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_database(worker_id: str) -> Iterator[str]:
    reason = _postgres_unreachable_reason()
    if reason:
        pytest.skip(reason)
    name = f"clusterscore_test_{worker_id}_{os.getpid()}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    url = f"{base}/{name}"
    migrate.upgrade(url)
    yield url
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def worker_id(request: pytest.FixtureRequest) -> str:
    """pytest-xdist's worker name, or "main" when running without it."""
    return str(getattr(request.config, "workerinput", {}).get("workerid", "main"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    url: str = request.getfixturevalue("postgres_database")
    yield url
    engine = make_engine(url)
    with engine.begin() as conn:
        tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def settings(database_url: str) -> Settings:
    # No background refreshing of benchmark roll-ups: tests that read benchmarks refresh them first, by hand.
    return Settings(
        environment="test", database_url=database_url, scorecards_dir=ROOT / "scorecards", benchmark_refresh_seconds=0
    )


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:  # runs the lifespan: loads the shipped templates
        yield test_client


@pytest.fixture
def engine(app: FastAPI, client: TestClient) -> Engine:
    engine: Engine = app.state.engine
    return engine


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as db_session:
        yield db_session


@pytest.fixture
def admin_client(client: TestClient, session: Session) -> TestClient:
    """The test client acting as an instance administrator through a personal API token."""
    from tests import factories

    admin = factories.user(session, is_admin=True)
    client.headers["Authorization"] = f"Bearer {factories.api_token(session, admin)}"
    session.commit()
    return client
