"""The app under uvicorn in its own process, on a migrated SQLite file: real HTTP for browsers and benches.

The test process writes its data to the same file (SQLite in WAL mode lets both work at once), so a
test builds exactly the clusters it needs through the service layer and then drives a browser.
"""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session

from app import migrate
from app.config import ROOT
from app.db import WRITES, make_engine
from app.scorecards import service as scorecard_service


class LiveServer:
    def __init__(self, url: str, engine: Engine, log: Path) -> None:
        self.url = url
        self.engine = engine
        self.log = log


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def live_server(workdir: Path, *, environment: str = "test", env: dict[str, str] | None = None) -> Iterator[LiveServer]:
    """`env`: settings of this server's own (e.g. {"BODY_TIMEOUT_SECONDS": "2"})."""
    database = workdir / "live.db"
    database_url = f"sqlite:///{database}"
    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    with Session(engine) as session:
        scorecard_service.load_directory(session, ROOT / "scorecards")
        session.commit()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "ENVIRONMENT": environment,
        "SECRET_KEY": "live-server-secret-for-tests-only",
        "PUBLIC_URL": url,
        "LOAD_SCORECARDS_ON_STARTUP": "false",
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    log = workdir / "server.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "app.main:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-proxy-headers",
            ],
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_until_up(url, process, log)
            # The test's sessions write beside the server's own (its benchmark refresher, a request still
            # finishing): begun IMMEDIATE like the app's writing requests, they wait for SQLite's write lock on
            # busy_timeout instead of failing on a snapshot another commit made stale ("database is locked").
            yield LiveServer(url, engine.execution_options(**{WRITES: True}), log)
        finally:
            process.terminate()
            process.wait(timeout=10)
            engine.dispose()


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the app did not start:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/login", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"the app did not answer within 30 s:\n{log.read_text()}")
