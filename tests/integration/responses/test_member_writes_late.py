"""SQLite: a member's save reads without the writers' turn and takes it only where it starts to write, and
what its writes depend on is read again there (app.db.begin_writing, MemberForm.ensure_response); the turn is
handed on as soon as they are committed (app.db.end_writing, MemberForm.writing)."""

import contextlib
import threading

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from app.clusters import service as cluster_service
from app.clusters.models import Cluster, Participant
from app.db import sqlite_writer_turn
from app.errors import Conflict
from app.responses import service as response_service
from app.responses.models import Response
from app.responses.pages import MemberForm, autosave
from app.rounds import service as round_service
from app.rounds.models import Round
from app.rounds.schemas import RoundStatus
from tests import factories
from tests.support.sessions import post_session, turn_held_by_another_writer


@pytest.fixture
def engine(engine: Engine) -> Engine:
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL has no writers' turn: its writers lock rows, so begin_writing does nothing there")
    return engine


def _member_form(session: Session, setting: tuple[Cluster, Participant, Round]) -> MemberForm:
    cluster, participant, round_ = (session.get(type(row), row.id) for row in setting)
    assert isinstance(cluster, Cluster) and isinstance(participant, Participant) and isinstance(round_, Round)
    return MemberForm(round_, cluster, participant, cluster_service.scorecard(session, cluster), session)


def test_reads_run_beside_another_writer_and_the_write_waits_for_its_turn_holding_no_connection(
    engine: Engine, setting: tuple[Cluster, Participant, Round]
) -> None:
    turn = sqlite_writer_turn(engine)
    with turn_held_by_another_writer(turn) as release:
        idle = engine.pool.checkedout()  # type: ignore[attr-defined]
        request = post_session(engine, endpoint=autosave)
        form = _member_form(next(request), setting)  # reads while the other writer has the turn
        assert form.round.status == "open"

        began = threading.Event()
        writer = threading.Thread(target=lambda: (form.ensure_response(form.session), began.set()))
        writer.start()
        assert not began.wait(0.3)  # waits for the turn...
        assert engine.pool.checkedout() == idle  # type: ignore[attr-defined]  # ...holding no connection
        release.set()
        writer.join(5)
        assert began.is_set() and turn.locked() and form.response is not None
    with contextlib.suppress(StopIteration):
        next(request)  # commits and hands the turn on
    assert not turn.locked()


def test_a_round_closed_after_the_form_was_read_refuses_the_answer(
    engine: Engine, session: Session, setting: tuple[Cluster, Participant, Round]
) -> None:
    member_id = setting[1].id
    request = post_session(engine, endpoint=autosave)
    form = _member_form(next(request), setting)
    # The facilitator closes the round between the member's reads and writes.
    round_service.set_status(session, session.get(Round, form.round.id), RoundStatus.closed, actor="test")
    session.commit()
    with pytest.raises(Conflict):
        form.ensure_response(form.session)
    request.close()  # the request fails: rolled back, turn handed on
    assert not sqlite_writer_turn(engine).locked()
    assert session.exec(select(Response).where(Response.participant_id == member_id)).first() is None


def test_a_response_submitted_elsewhere_after_the_form_was_read_is_seen_as_submitted(
    engine: Engine, session: Session, setting: tuple[Cluster, Participant, Round]
) -> None:
    """So that the change is audited as a correction (responses.service.save_draft)."""
    _cluster, participant, round_ = setting
    started = response_service.start_response(session, round_, participant)
    session.commit()
    request = post_session(engine, endpoint=autosave)
    form = _member_form(next(request), setting)
    form.response = form.session.get(Response, started.id)
    assert form.response is not None and form.response.status == "draft"
    response_service.submit(session, session.get(Response, started.id), client_id=None, actor="other phone")
    session.commit()
    assert form.ensure_response(form.session).status == "submitted"
    request.close()


def test_a_save_commits_and_hands_the_turn_on_before_its_reply(
    engine: Engine, session: Session, setting: tuple[Cluster, Participant, Round]
) -> None:
    """The reply (a fragment or a page) is rendered after the writes, outside the turn; the writes are kept."""
    member_id = setting[1].id
    turn = sqlite_writer_turn(engine)
    request = post_session(engine, endpoint=autosave)
    form = _member_form(next(request), setting)
    with form.writing() as response:
        assert turn.locked()
    assert not turn.locked()
    # Committed while the request is still open: another session sees it.
    assert session.exec(select(Response).where(Response.participant_id == member_id)).one().id == response.id
    response.status = "submitted"
    with pytest.raises(RuntimeError, match="end_writing"):
        form.session.flush()  # a change after the writes would be a write outside the turn
    request.close()
    session.expire_all()
    assert session.exec(select(Response).where(Response.participant_id == member_id)).one().status == "draft"


def test_a_change_before_begin_writing_is_refused(engine: Engine, setting: tuple[Cluster, Participant, Round]) -> None:
    """Flushed in the read transaction it would fail whenever another writer committed first."""
    _cluster, participant, round_ = setting
    request = post_session(engine, endpoint=autosave)
    session = next(request)
    session.add(Response(round_id=round_.id, participant_id=participant.id))
    with pytest.raises(RuntimeError, match="begin_writing"):
        session.flush()
    request.close()


def test_the_member_routes_take_the_turn_after_their_reads(
    engine: Engine, client: TestClient, session: Session, setting: tuple[Cluster, Participant, Round]
) -> None:
    """Through the app: the statements of an autosave, a plain step post and a submit, as SQLite sees them."""
    _cluster, participant, round_ = setting
    link = factories.member_link(session, participant)
    session.commit()
    assert client.get(link, follow_redirects=False).status_code == 303
    headers = {"X-CSRF-Token": client.get("/api/v1/me").json()["csrf_token"]}
    statements: list[str] = []
    # The statement's verb, or the whole BEGIN (deferred, or IMMEDIATE: the writers' turn and SQLite's write lock).
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(" ".join(args[2].split()[:2])[:15]))
    posts = [
        (f"/rounds/{round_.id}/autosave", {"r.cost-control": "4"}),
        (f"/rounds/{round_.id}/answer/1", {"r.cost-control": "3"}),
        (f"/rounds/{round_.id}/submit", {}),
    ]
    for path, data in posts:
        statements.clear()
        assert client.post(path, data=data, headers=headers, follow_redirects=False).status_code in (200, 303)
        verbs = [statement if statement.startswith("BEGIN") else statement.split()[0] for statement in statements]
        immediate = verbs.index("BEGIN IMMEDIATE")
        assert verbs[0] == "BEGIN" and verbs[1:immediate].count("SELECT") >= 2, (path, verbs)
        assert "SELECT" in verbs[immediate:] and not {"INSERT", "UPDATE"} & set(verbs[:immediate]), (path, verbs)
