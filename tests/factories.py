"""Test data built through the service layer, so tests exercise the same paths the app does."""

from itertools import count

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.auth import service as auth_service
from app.auth.models import User
from app.clusters import service as cluster_service
from app.clusters.models import Cluster, Participant, Programme
from app.clusters.schemas import ClusterCreate, ParticipantCreate, ProgrammeCreate
from app.responses import service as response_service
from app.responses.models import Answer, CsfRating, Response
from app.responses.schemas import AnswerIn, RatingIn, ResponseDraft
from app.rounds import service as round_service
from app.rounds.models import Round
from app.rounds.schemas import RoundCreate, RoundStatus
from app.scorecards import service as scorecard_service

_seq = count(1)


def programme(session: Session, **overrides: object) -> Programme:
    data = {"name": f"Programme {next(_seq)}", "agency": "Test Agency", **overrides}
    return cluster_service.create_programme(session, ProgrammeCreate.model_validate(data))


def cluster(session: Session, *, template_key: str = "thai-food-cluster", **overrides: object) -> Cluster:
    version = scorecard_service.latest_version(session, template_key)
    in_programme = overrides.pop("in_programme", None) or programme(session)
    assert isinstance(in_programme, Programme)
    data = {
        "name": f"Cluster {next(_seq)}",
        "sector": "Food processing",
        "country": "TH",
        "template_version_id": version.id,
        **overrides,
    }
    return cluster_service.create_cluster(session, in_programme, ClusterCreate.model_validate(data))


def participant(session: Session, of: Cluster, **overrides: object) -> Participant:
    data = {"organisation": f"Firm {next(_seq)}", "person_name": "Owner", **overrides}
    return cluster_service.add_participant(session, of, ParticipantCreate.model_validate(data))


def open_round(session: Session, of: Cluster, label: str = "2026 H1") -> Round:
    round_ = round_service.create_round(session, of, RoundCreate(label=label))
    return round_service.set_status(session, round_, RoundStatus.open, actor="test")


PASSWORD = "correct horse battery staple"


def submitted(
    session: Session,
    round_: Round,
    member: Participant,
    *,
    answers: dict[str, object],
    ratings: dict[str, int],
    comments: dict[str, str] | None = None,
) -> Response:
    """The member's response to the round with these answers (by KPI key), ratings and "why?" comments (by CSF
    key), submitted."""
    response = response_service.start_response(session, round_, member)
    why = comments or {}
    draft = ResponseDraft(
        answers=[AnswerIn(kpi_key=k, value=v) for k, v in answers.items()],  # type: ignore[arg-type]
        ratings=[RatingIn(csf_key=k, rating=r, comment=why.get(k, "")) for k, r in ratings.items()],
    )
    scorecard = response_service.scorecard_for(session, response)
    response_service.save_draft(session, response, draft, scorecard=scorecard, actor="test", locale="en")
    return response_service.submit(session, response, client_id=None, actor="test")


def logged_in(app: FastAPI, session: Session, account: User) -> TestClient:
    """A browser-like client logged in as `account` with a session cookie (pages use cookies and CSRF)."""
    session.commit()
    http = TestClient(app)
    http.headers["X-CSRF-Token"] = http.get("/api/v1/me").json()["csrf_token"]
    response = http.post("/login", data={"email": account.email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    http.headers["X-CSRF-Token"] = http.get("/api/v1/me").json()["csrf_token"]
    return http


def user(session: Session, *, is_admin: bool = False, grants: tuple[tuple[str, Programme | Cluster], ...] = ()) -> User:
    """A staff user; each grant is (role, programme or cluster)."""
    account = auth_service.create_user(
        session, email=f"user{next(_seq)}@example.org", name="Test User", password=PASSWORD, is_admin=is_admin
    )
    for role, scope in grants:
        auth_service.grant_on(session, account, role, scope, actor="test")
    return account


def api_token(session: Session, account: User) -> str:
    _token, plaintext = auth_service.issue_api_token(session, account, "tests")
    return plaintext


def member_link(session: Session, of: Participant) -> str:
    """The path of a participant's personal link (what the facilitator sends them)."""
    assert of.id is not None
    return f"/m/{auth_service.issue_member_link(session, of.id)}"


def stored_answers(session: Session, participant_id: int) -> tuple[str | None, dict[str, float | str | None]]:
    """A participant's response as the database holds it: its status, and values by KPI key and `r.`/`c.` + CSF."""
    session.commit()  # a fresh read: SQLite keeps a transaction's snapshot until it ends
    session.expire_all()
    response = session.exec(select(Response).where(Response.participant_id == participant_id)).first()
    if response is None:
        return None, {}
    values: dict[str, float | str | None] = {
        a.kpi_key: a.value_num if a.value_text is None else a.value_text
        for a in session.exec(select(Answer).where(Answer.response_id == response.id))
    }
    for rating in session.exec(select(CsfRating).where(CsfRating.response_id == response.id)):
        values[f"r.{rating.csf_key}"] = rating.rating
        values[f"c.{rating.csf_key}"] = rating.comment
    return response.status, values
