"""Settings in one place, read from the environment (and an optional .env file)."""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent
DEV_SECRET = "dev-only-secret-change-me"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = f"sqlite:///{ROOT / 'var' / 'clusterscore.db'}"
    secret_key: str = DEV_SECRET
    scorecards_dir: Path = ROOT / "scorecards"
    # Where htmx comes from: the pinned CDN copy (with SRI) or the local copy that `make assets` fetches.
    htmx_src: Literal["cdn", "local"] = "cdn"
    base_url: str = "http://127.0.0.1:8000"
    # Statistical-disclosure rule for benchmarks: never show an aggregate of fewer clusters than this.
    benchmark_min_group: int = Field(default=3, ge=3)
    load_scorecards_on_startup: bool = True
    # Requests a worker process serves at once, and its database connections; the others wait their turn in
    # the event loop, holding nothing. One core serves a worker: a few at a time keep it busy while others
    # wait on the database, more only hand the GIL around (docs/benchmarks.md). Raise it when the database is
    # far away (each statement waits longer) or when slow requests (exports) are common. At most the 40
    # threads of the worker's pool, so that every admitted request can run.
    requests_per_worker: int = Field(default=4, ge=1, le=40)

    @model_validator(mode="after")
    def _refuse_default_secret_in_production(self) -> "Settings":
        # A forgotten SECRET_KEY would let anyone forge sessions: fail at start-up, not in an incident.
        if self.environment == "production" and self.secret_key == DEV_SECRET:
            raise ValueError("SECRET_KEY must be set when ENVIRONMENT=production")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
