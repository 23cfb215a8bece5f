from collections.abc import Iterator

import pytest
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from app.auth import security


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Cheap Argon2 parameters: the logic under test does not depend on the cost, the run time does."""
    monkeypatch.setattr(
        security, "_password_hash", PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))
    )
    security.dummy_password_hash.cache_clear()
    yield
    security.dummy_password_hash.cache_clear()
