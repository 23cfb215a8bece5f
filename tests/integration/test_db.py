"""The request's session (app.db): one transaction per request, committed on success, rolled back on any error;
on SQLite a request that changes data takes the write lock as its transaction begins."""

import shutil
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import anyio
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select
from starlette.requests import Request

from app.config import ROOT, Settings
from app.db import DatabaseTurns, get_session, make_engine, open_session
from app.main import create_app
from app.responses.models import Response
from app.scorecards.models import TemplateVersion
from tests import factories


def _read_then_write(url: str, *, writes: bool, errors: list[Exception], hold: float) -> None:
    engine = make_engine(url)  # an engine per thread: like two app processes
    try:
        with open_session(engine, writes=writes) as session:
            count = session.execute(text("SELECT count(*) FROM note")).scalar_one()
            time.sleep(hold)  # another request commits meanwhile
            session.execute(text("INSERT INTO note (n) VALUES (:n)"), {"n": count})
            session.commit()
    except OperationalError as exc:
        errors.append(exc)
    finally:
        engine.dispose()


def _race(url: str, *, writes: bool) -> list[Exception]:
    errors: list[Exception] = []
    first = threading.Thread(
        target=_read_then_write, args=(url,), kwargs={"writes": writes, "errors": errors, "hold": 0.4}
    )
    second = threading.Thread(
        target=_read_then_write, args=(url,), kwargs={"writes": writes, "errors": errors, "hold": 0}
    )
    first.start()
    time.sleep(0.1)
    second.start()
    first.join()
    second.join()
    return errors


@pytest.fixture
def url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'race.db'}"
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE note (id INTEGER PRIMARY KEY, n INTEGER)"))
    engine.dispose()
    return url


def test_a_deferred_read_then_write_fails_when_another_connection_committed(url: str) -> None:
    """The failure that sessions which write avoid (if this passes without errors, the next test proves less)."""
    errors = _race(url, writes=False)
    assert errors and "locked" in str(errors[0])


def test_sessions_that_write_take_the_lock_up_front_and_both_succeed_one_after_the_other(url: str) -> None:
    assert _race(url, writes=True) == []
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM note ORDER BY id")).scalars().all() == [0, 1]
    engine.dispose()


def test_a_worker_starting_beside_another_waits_for_it_to_load_the_templates(
    tmp_path: Path, sqlite_template: Path
) -> None:
    """Every worker loads the scorecard templates as it starts (two gunicorn workers on one SQLite file): a worker
    whose load read before the other's commit failed to boot with "database is locked", unless its session was the
    writer from its first statement."""
    path = tmp_path / "start.db"
    shutil.copy(sqlite_template, path)
    settings = Settings(environment="test", database_url=f"sqlite:///{path}", scorecards_dir=ROOT / "scorecards")
    app = create_app(settings)
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)  # the other worker, loading
    other.execute("BEGIN IMMEDIATE")
    other.execute("UPDATE alembic_version SET version_num = version_num")
    threading.Timer(1.0, other.execute, args=("COMMIT",)).start()
    with TestClient(app) as client:  # starting: its load waits for the other's commit
        assert client.get("/login").status_code == 200
    other.close()
    engine = make_engine(settings.database_url)
    with Session(engine) as session:
        keys = {version.key for version in session.exec(select(TemplateVersion))}
    engine.dispose()
    assert keys == {"dti-cluster-monitoring", "scottish-enterprise-cluster", "thai-food-cluster"}


def _statements(engine: Engine) -> list[str]:
    """The verb of each statement the engine runs (BEGIN, BEGIN IMMEDIATE, SELECT, INSERT, COMMIT...)."""
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        words = statement.split()
        seen.append("BEGIN IMMEDIATE" if words[:2] == ["BEGIN", "IMMEDIATE"] else words[0].upper())

    event.listen(engine, "before_cursor_execute", record)
    event.listen(engine, "commit", lambda _conn: seen.append("COMMIT"))
    event.listen(engine, "rollback", lambda _conn: seen.append("ROLLBACK"))
    return seen


def test_a_members_save_is_one_immediate_transaction_and_a_page_one_deferred_read(
    engine: Engine, client: TestClient, session: Session
) -> None:
    cluster = factories.cluster(session)
    member = factories.participant(session, cluster)
    round_ = factories.open_round(session, cluster)
    link = factories.member_link(session, member)
    session.commit()
    assert client.get(link, follow_redirects=False).status_code == 303
    headers = {"X-CSRF-Token": client.get("/api/v1/me").json()["csrf_token"]}
    statements = _statements(engine)
    saved = client.post(f"/rounds/{round_.id}/autosave", data={"r.cost-control": "4"}, headers=headers)
    assert saved.status_code == 200
    if engine.dialect.name == "sqlite":
        assert statements[0] == "BEGIN IMMEDIATE" and statements.count("BEGIN IMMEDIATE") == 1, statements
        assert "BEGIN" not in statements
    assert {"INSERT", "UPDATE"} & set(statements) and statements[-1] == "COMMIT", statements
    assert statements.count("COMMIT") == 1 and "ROLLBACK" not in statements

    statements.clear()
    assert client.get(f"/rounds/{round_.id}/answer/1").status_code == 200
    assert not {"INSERT", "UPDATE", "DELETE", "BEGIN IMMEDIATE"} & set(statements), statements
    if engine.dialect.name == "sqlite":
        assert statements[0] == "BEGIN"


def test_a_request_that_fails_after_writing_leaves_nothing(app: object, client: TestClient, session: Session) -> None:
    """The handler changed data, then raised: the session dependency rolls all of it back."""
    cluster = factories.cluster(session)
    member = factories.participant(session, cluster)
    round_ = factories.open_round(session, cluster)
    admin = factories.user(session, is_admin=True)
    client.headers["Authorization"] = f"Bearer {factories.api_token(session, admin)}"
    session.commit()
    # A valid rating and an unknown KPI in the same body: the response is created, then the whole request fails.
    body = {"participant_id": member.id, "ratings": [{"csf_key": "cost-control", "rating": 4}]}
    body["answers"] = [{"kpi_key": "no-such-kpi", "value": 1}]
    assert client.post(f"/api/v1/rounds/{round_.id}/responses", json=body).status_code == 422
    assert session.exec(select(Response).where(Response.round_id == round_.id)).first() is None


def test_a_request_cancelled_while_it_writes_rolls_back_and_gives_its_connection_back(url: str) -> None:
    """Cancelled (a shutdown): the session's end is shielded, so SQLite's write lock and the connection are not
    left held, which would stop every later writer."""
    engine = make_engine(url)
    app = SimpleNamespace(state=SimpleNamespace(engine=engine, database_turns=DatabaseTurns(engine)))
    scope = {"type": "http", "method": "POST", "app": app, "headers": []}

    async def cancelled_request() -> None:
        request_session = get_session(Request(scope))
        session = await request_session.__anext__()
        await anyio.to_thread.run_sync(lambda: session.execute(text("INSERT INTO note (n) VALUES (1)")))
        with anyio.CancelScope() as cancelled:
            cancelled.cancel()
            try:
                await anyio.sleep(0)  # where the cancellation reaches the handler
            except anyio.get_cancelled_exc_class() as exc:
                await request_session.athrow(exc)  # as FastAPI passes the handler's exception to the dependency
        assert cancelled.cancelled_caught

    # In a thread of its own: after a browser test in this process, Playwright keeps an event loop running in
    # the main thread, where anyio.run() refuses to start.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(anyio.run, cancelled_request).result()
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    with open_session(engine, writes=True) as other:  # would wait 30 s for a lock left held
        other.execute(text("INSERT INTO note (n) VALUES (2)"))
        other.commit()
        assert other.execute(text("SELECT n FROM note")).scalars().all() == [2]
    engine.dispose()
