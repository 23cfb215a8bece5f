"""Shared by the load benchmark and the durability test: scratch databases, a seeded workshop, and the app
under a real server process (not the in-process test client), started and killed like in production."""

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy.engine import make_url
from sqlmodel import Session

from app import migrate
from app.auth import service as auth_service
from app.clusters import service as cluster_service
from app.clusters.schemas import ClusterCreate, ParticipantCreate, ProgrammeCreate, Scorecard
from app.config import ROOT
from app.db import make_engine
from app.responses import form as member_form
from app.rounds import service as round_service
from app.rounds.schemas import RoundCreate, RoundStatus
from app.scorecards import service as scorecard_service

POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
# One plausible answer per member-level KPI type (an autosave changes some of them each time).
ANSWERS: dict[str, Any] = {"yes_no": True, "count": 3, "number": 1.5, "percent": 40, "rating": 3, "text": "ok"}
# The same, as the member's form posts them (a decimal comma, as Spanish and Portuguese phones type it).
POSTED = {"yes_no": "yes", "count": "3", "number": "1.5", "percent": "40", "rating": "3", "text": "ok"}


@contextmanager
def scratch_database(kind: str) -> Iterator[str]:
    """An empty database (SQLite file or PostgreSQL database), removed afterwards."""
    if kind == "sqlite":
        directory = Path(tempfile.mkdtemp(prefix="clusterscore-bench-"))
        try:
            yield f"sqlite:///{directory / 'bench.db'}"
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        return
    name = f"clusterscore_bench_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = make_url(POSTGRES_ADMIN_URL).set(drivername="postgresql+psycopg", database=name)
    try:
        yield base.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Member:
    participant_id: int
    token: str


@dataclass
class Workshop:
    round_id: int
    members: list[Member]
    answers: dict[str, Any]  # kpi_key -> value, for every member-level KPI
    csf_keys: list[str]
    admin_token: str = ""
    # What a member's phone posts, step by step: (form field, value) in the order the form asks.
    form_steps: list[list[tuple[str, str]]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


def seed_workshop(database_url: str, *, members: int, name: str = "Bench") -> Workshop:
    """Migrate, load the templates, and create one cluster with `members` participants, each with a personal
    link, and an open round: a workshop about to start. Another `name` seeds another one beside it."""
    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    with Session(engine, expire_on_commit=False) as session:
        scorecard_service.load_directory(session, ROOT / "scorecards")
        version = scorecard_service.latest_version(session, "thai-food-cluster")
        programme = cluster_service.create_programme(session, ProgrammeCreate(name=f"{name} programme"))
        cluster = cluster_service.create_cluster(
            session,
            programme,
            ClusterCreate.model_validate(
                {"name": f"{name} cluster", "country": "TH", "sector": "Food", "template_version_id": version.id}
            ),
        )
        people = [
            cluster_service.add_participant(session, cluster, ParticipantCreate(organisation=f"Firm {i}"))
            for i in range(members)
        ]
        round_ = round_service.create_round(session, cluster, RoundCreate(label="Workshop"))
        round_service.set_status(session, round_, RoundStatus.open, actor="bench")
        links = [Member(p.id or 0, auth_service.issue_member_link(session, p.id or 0)) for p in people]
        admin = auth_service.create_user(
            session, email=f"{name.lower()}@example.org", name=name, password="bench-password-2026", is_admin=True
        )
        _token, admin_token = auth_service.issue_api_token(session, admin, "bench")
        scorecard = cluster_service.scorecard(session, cluster)
        session.commit()
    engine.dispose()
    answers = {k.key: ANSWERS[k.type] for k in scorecard.kpis() if k.level == "member" and k.active}
    csf_keys = [c.key for p in scorecard.perspectives for c in p.csfs]
    assert round_.id is not None
    return Workshop(round_.id, links, answers, csf_keys, admin_token, _form_steps(scorecard))


def _form_steps(scorecard: Scorecard) -> list[list[tuple[str, str]]]:
    """Every rating and member-level answer of the form, and a reason for every other rating."""
    steps = []
    for perspective in scorecard.perspectives:
        fields: list[tuple[str, str]] = []
        for number, csf in enumerate(perspective.csfs):
            fields.append((member_form.RATING + csf.key, str(1 + number % 5)))
            if number % 2 == 0:
                fields.append((member_form.COMMENT + csf.key, "Because the training centre " + "helps us " * 12))
            for kpi in member_form.member_kpis(csf, scorecard, "firm"):
                fields.append((member_form.ANSWER + kpi.key, POSTED[kpi.type]))
        steps.append(fields)
    return steps


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def production_env(database_url: str, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "ENVIRONMENT": "production",
        "SECRET_KEY": secrets.token_urlsafe(32),
        "DATABASE_URL": database_url,
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
    }


class Server:
    """A uvicorn or gunicorn process serving `app_path` ("module:attribute"); SIGKILL-able like a crashed host."""

    def __init__(
        self,
        app_path: str,
        *,
        env: dict[str, str],
        port: int,
        workers: int = 1,
        factory: bool = False,
        cwd: Path = ROOT,
    ) -> None:
        """`cwd`: the checkout whose code it serves (bench/request_cost.py compares two side by side)."""
        self.app_path, self.env, self.port, self.workers, self.factory = app_path, env, port, workers, factory
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> "Server":
        self.process = subprocess.Popen(self._command(), cwd=self.cwd, env=self.env, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.url}/openapi.json", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.kill()  # not left serving after the caller has given up on it
        raise RuntimeError(f"the server did not answer within {timeout:.0f} s")

    def _command(self) -> list[str]:
        """As production starts it (README, Deployment): several workers under gunicorn with its configuration,
        one under uvicorn. A checkout from before gunicorn.conf.py ran its workers under uvicorn."""
        if self.workers > 1 and (self.cwd / "gunicorn.conf.py").exists():
            app = self.app_path + ("()" if self.factory else "")
            command = [sys.executable, "-m", "gunicorn", app, "--config", "gunicorn.conf.py", "--log-level", "warning"]
            return [*command, "--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers)]
        command = [sys.executable, "-m", "uvicorn", self.app_path, "--host", "127.0.0.1", "--port", str(self.port)]
        command.append("--no-proxy-headers")  # as in production: the app applies FORWARDED_ALLOW_IPS itself
        command += ["--workers", str(self.workers), "--log-level", "warning", "--no-access-log"]
        return command + (["--factory"] if self.factory else [])

    def kill(self) -> None:
        """SIGKILL the whole process group (the supervisor and every worker): no shutdown, no flush."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def cpu_seconds(self) -> float:
        """CPU time (user and system) used so far by the processes serving requests."""
        if self.process is None:
            return 0.0
        return sum(self.cpu_seconds_each().values())

    def cpu_seconds_each(self) -> dict[int, float]:
        """CPU time used so far by each process serving requests, by process id: how the load is spread."""
        if self.process is None:
            return {}
        return {pid: _cpu_seconds(pid) for pid in self._serving_pids()}

    def _serving_pids(self) -> list[int]:
        assert self.process is not None
        return _children(self.process.pid) if self.workers > 1 else [self.process.pid]

    def worker_rss_mb(self) -> list[float]:
        """Peak resident memory (VmHWM) of each process serving requests (the workers, or the process itself)."""
        if self.process is None:
            return []
        return [_rss_mb(pid) for pid in self._serving_pids()]


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(child) for child in text]
    # Multiprocessing may start a helper beside the workers (its resource tracker): leave it out.
    return [child for child in found if b"resource_tracker" not in Path(f"/proc/{child}/cmdline").read_bytes()]


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _cpu_seconds(pid: int) -> float:
    # Fields 14 and 15 of /proc/PID/stat (utime, stime), counted after the command name, which may hold spaces.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def checkout(ref: str) -> Iterator[Path]:
    """A detached worktree of `ref`, removed afterwards. Both apps are seeded by this checkout's code, so
    the two must have the same migrations."""
    if subprocess.run(["git", "diff", "--quiet", ref, "--", "migrations"], cwd=ROOT).returncode != 0:
        raise SystemExit(f"{ref} has other migrations than this checkout: compare commits with the same schema")
    directory = Path(tempfile.mkdtemp(prefix="clusterscore-against-"))
    subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(directory), ref], cwd=ROOT, check=True)
    try:
        yield directory
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(directory)], cwd=ROOT, check=True)
