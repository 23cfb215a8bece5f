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
    # The address people reach the app on, for every printed or sent link (member links, join code, demo).
    # `make run` sets it from its HOST and PORT; behind a proxy or on a LAN, set it to that address.
    public_url: str = "http://127.0.0.1:8000"
    # Statistical-disclosure rule for benchmarks: never show an aggregate of fewer clusters than this.
    benchmark_min_group: int = Field(default=3, ge=3)
    load_scorecards_on_startup: bool = True
    # Reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed: comma-separated addresses or
    # networks ("10.0.0.5", "10.0.0.0/8"), "*" for any. Empty (the default): none, the client is whoever
    # connects, so no one can pick the address the rate limits count. The app applies it itself (app.main):
    # uvicorn runs with --no-proxy-headers, or it would trust 127.0.0.1 on its own.
    forwarded_allow_ips: str = ""
    # The largest request body accepted (the answer import and OpenRosa submissions state larger limits of their
    # own), and the seconds a client has to send it: beyond either the request is refused (413, 408).
    max_body_bytes: int = Field(default=2_000_000, ge=10_000)
    body_timeout_seconds: float = Field(default=60, gt=0)
    # How often each app process brings the benchmark roll-ups up to date (app/benchmarks/refresher.py); the
    # benchmark pages say how current they are. 0 switches the refreshing off (tests refresh by hand).
    benchmark_refresh_seconds: float = Field(default=30, ge=0)

    # Outgoing email (staff invitations, members' personal links). Without SMTP_HOST nothing is emailed: pages offer
    # the links to copy instead. SMTP_SECURITY: "starttls" (port 587), "tls" (implicit TLS, port 465) or "none"
    # (a relay on the same machine or network, and the tests' local SMTP sink).
    smtp_host: str = ""
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_timeout_seconds: float = Field(default=15, gt=0)
    mail_from: str = "ClusterScore <clusterscore@localhost>"

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
