from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy.engine import make_url

from app.auth import security
from tests.conftest import POSTGRES_ADMIN_URL


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Cheap Argon2 parameters: the logic under test does not depend on the cost, the run time does."""
    monkeypatch.setattr(
        security, "_password_hash", PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))
    )
    security.dummy_password_hash.cache_clear()
    yield
    security.dummy_password_hash.cache_clear()


@pytest.fixture
def empty_database_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A second, empty database of the same kind as `database_url` (no tables, not even alembic_version)."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    name = f"{make_url(database_url).database}_empty"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
