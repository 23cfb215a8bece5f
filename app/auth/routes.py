"""Logging in and out, password change, the members' ways in (personal link, join code), API tokens."""

from datetime import datetime
from typing import Annotated, Any

import segno
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from app.auth import security
from app.auth import service as auth_service
from app.auth.deps import session_stamp
from app.auth.policy import PrincipalDep, StaffDep, participant_for, round_for
from app.clusters import service as cluster_service
from app.clusters.models import Participant
from app.clusters.schemas import ParticipantCreate
from app.db import database_work
from app.deps import PathId, SessionDep, SettingsDep
from app.errors import AppError, Conflict, NotFound
from app.rounds import service as round_service
from app.rounds.models import Round
from app.web import redirect_after_post, render

pages = APIRouter(tags=["pages"], include_in_schema=False)
api = APIRouter(tags=["access"])


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _start_session(request: Request, **identity: Any) -> None:
    """A fresh session (and CSRF token) at every login, so a planted session id is worth nothing."""
    request.session.clear()
    request.session.update(identity, csrf=security.new_csrf_token())


@pages.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    return render(request, "auth/login.html")


@pages.post("/login", response_class=HTMLResponse)
def login(
    request: Request, session: SessionDep, email: Annotated[str, Form()], password: Annotated[str, Form()]
) -> Response:
    try:
        user = auth_service.authenticate(session, email=email, password=password, client_ip=_client_ip(request))
    except AppError as exc:
        context = {"error": exc.message, "email": email}
        return render(request, "auth/login.html", context, block="login_form", status_code=exc.status_code)
    _start_session(request, user_id=user.id, stamp=session_stamp(user))
    return redirect_after_post("/", request)


@pages.post("/logout")
def logout(request: Request) -> Response:
    request.session.clear()
    return redirect_after_post("/", request)


@pages.get("/account/password", response_class=HTMLResponse)
def password_page(request: Request, principal: StaffDep) -> Response:
    return render(request, "auth/password.html")


@pages.post("/account/password", response_class=HTMLResponse)
def change_password(
    request: Request,
    session: SessionDep,
    principal: StaffDep,
    current: Annotated[str, Form()],
    new: Annotated[str, Form()],
) -> Response:
    assert principal.user is not None
    try:
        auth_service.change_password(session, principal.user, current=current, new=new)
    except AppError as exc:
        return render(request, "auth/password.html", {"error": exc.message}, status_code=exc.status_code)
    _start_session(request, user_id=principal.user.id, stamp=session_stamp(principal.user))
    return render(request, "auth/password.html", {"done": True})


@pages.get("/m/{token}")
@database_work
def member_link(token: str, request: Request, session: SessionDep) -> Response:
    """A member's personal link: no password, the long random token is the credential."""
    participant_id = auth_service.participant_for_token(session, token)
    if participant_id is None:
        return render(request, "auth/link_invalid.html", status_code=404)
    _start_session(request, participant_id=participant_id)
    return RedirectResponse("/", status_code=303)


@pages.get("/join", response_class=HTMLResponse)
def join_page(request: Request) -> Response:
    return render(request, "auth/join.html")


@pages.post("/join", response_class=HTMLResponse)
def join(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    code: Annotated[str, Form(max_length=20)],
    person_name: Annotated[str, Form(min_length=1, max_length=200)],
    organisation: Annotated[str, Form(min_length=1, max_length=200)],
) -> Response:
    try:
        join_code = auth_service.round_for_join_code(
            session, code, secret=settings.secret_key, client_ip=_client_ip(request)
        )
        round_ = round_service.get_round(session, join_code.round_id)
        if round_.status != "open":
            raise Conflict("This round is not open for answers.")
    except AppError as exc:
        context = {"error": exc.message, "code": code, "person_name": person_name, "organisation": organisation}
        return render(request, "auth/join.html", context, status_code=exc.status_code)
    cluster = cluster_service.get_cluster(session, round_.cluster_id)
    participant = cluster_service.add_participant(
        session, cluster, ParticipantCreate(organisation=organisation.strip(), person_name=person_name.strip())
    )
    assert participant.id is not None
    auth_service.record_registration(session, join_code, participant.id)
    _start_session(request, participant_id=participant.id)
    return redirect_after_post("/", request)


# --- JSON API -----------------------------------------------------------------------------------


class Me(BaseModel):
    kind: str
    name: str
    csrf_token: str
    is_admin: bool = False
    grants: list[dict[str, Any]] = Field(default_factory=list)


@api.get("/me", response_model=Me)
def me(request: Request, principal: PrincipalDep) -> Any:
    """Who the session belongs to, and the CSRF token scripts and pages send back with changes."""
    csrf = request.session.get("csrf", "")
    if principal.user is not None:
        grants = [
            {"role": g.role, "programme_id": g.programme_id, "cluster_id": g.cluster_id} for g in principal.grants
        ]
        return Me(
            kind="user", name=principal.user.name, csrf_token=csrf, is_admin=principal.user.is_admin, grants=grants
        )
    if principal.participant is not None:
        return Me(kind="member", name=principal.participant.organisation, csrf_token=csrf)
    return Me(kind="anonymous", name="", csrf_token=csrf)


class TokenCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)


class TokenIssued(BaseModel):
    id: int
    name: str
    token: str = Field(description="Shown once; store it safely")


@api.post("/me/tokens", response_model=TokenIssued, status_code=201)
def issue_api_token(data: TokenCreate, session: SessionDep, principal: StaffDep) -> Any:
    assert principal.user is not None
    token, plaintext = auth_service.issue_api_token(session, principal.user, data.name)
    assert token.id is not None
    return TokenIssued(id=token.id, name=token.name, token=plaintext)


class MemberLinkIssued(BaseModel):
    participant_id: int
    url: str
    qr_svg: str = Field(description="The link as a QR code (SVG data URI), to print or show; only now, like the link")
    expires_at: datetime | None


class MemberLinkRequest(BaseModel):
    expires_at: datetime | None = None


@api.post("/participants/{participant_id}/link", response_model=MemberLinkIssued, status_code=201)
def issue_member_link(
    data: MemberLinkRequest,
    session: SessionDep,
    settings: SettingsDep,
    participant: Participant = participant_for("manage"),
) -> Any:
    """Issue (or reissue: the old link stops working) a participant's personal link."""
    assert participant.id is not None
    token = auth_service.issue_member_link(session, participant.id, expires_at=data.expires_at)
    url = f"{settings.base_url}/m/{token}"
    qr_svg = segno.make(url, error="m").svg_data_uri(scale=4)
    return MemberLinkIssued(participant_id=participant.id, url=url, qr_svg=qr_svg, expires_at=data.expires_at)


@api.delete("/participants/{participant_id}/link", status_code=204)
def revoke_member_link(session: SessionDep, participant: Participant = participant_for("manage")) -> None:
    assert participant.id is not None
    auth_service.revoke_member_links(session, participant.id)


class JoinCodeIssued(BaseModel):
    id: int
    round_id: int
    code: str
    expires_at: datetime


class JoinCodeRead(BaseModel):
    id: int
    round_id: int
    expires_at: datetime
    active: bool


class RegistrationRead(BaseModel):
    participant_id: int
    organisation: str
    person_name: str
    active: bool
    registered_at: datetime


@api.post("/rounds/{round_id}/join-codes", response_model=JoinCodeIssued, status_code=201)
def open_join_code(
    session: SessionDep, settings: SettingsDep, principal: PrincipalDep, round_: Round = round_for("manage")
) -> Any:
    assert round_.id is not None and principal.user is not None and principal.user.id is not None
    join_code, code = auth_service.open_join_code(
        session, round_.id, created_by=principal.user.id, secret=settings.secret_key
    )
    assert join_code.id is not None
    return JoinCodeIssued(id=join_code.id, round_id=round_.id, code=code, expires_at=join_code.expires_at)


@api.get("/rounds/{round_id}/join-codes", response_model=list[JoinCodeRead])
def list_join_codes(session: SessionDep, round_: Round = round_for("manage")) -> Any:
    assert round_.id is not None
    return [
        JoinCodeRead(
            id=c.id or 0, round_id=c.round_id, expires_at=c.expires_at, active=auth_service.is_join_code_active(c)
        )
        for c in auth_service.join_codes(session, round_.id)
    ]


@api.delete("/rounds/{round_id}/join-codes/{join_code_id}", status_code=204)
def revoke_join_code(join_code_id: PathId, session: SessionDep, round_: Round = round_for("manage")) -> None:
    codes = {c.id for c in auth_service.join_codes(session, round_.id or 0)}
    if join_code_id not in codes:
        raise NotFound("No such join code.")
    auth_service.revoke_join_code(session, join_code_id)


@api.get("/rounds/{round_id}/registrations", response_model=list[RegistrationRead])
def list_registrations(session: SessionDep, round_: Round = round_for("manage")) -> Any:
    """People who registered themselves with a join code; the facilitator can remove them."""
    assert round_.id is not None
    result = []
    for registration in auth_service.registrations(session, round_.id):
        participant = cluster_service.get_participant(session, registration.participant_id)
        result.append(
            RegistrationRead(
                participant_id=registration.participant_id,
                organisation=participant.organisation,
                person_name=participant.person_name,
                active=participant.active,
                registered_at=registration.created_at,
            )
        )
    return result


@api.delete("/rounds/{round_id}/registrations/{registered_id}", status_code=204)
def remove_registration(
    registered_id: PathId, session: SessionDep, principal: PrincipalDep, round_: Round = round_for("manage")
) -> None:
    """Someone registered who should not have: they can no longer answer; what they gave stays on record."""
    assert round_.id is not None
    if registered_id not in {r.participant_id for r in auth_service.registrations(session, round_.id)}:
        raise NotFound("No such registration.")
    cluster_service.deactivate_participant(
        session, cluster_service.get_participant(session, registered_id), actor=principal.actor
    )
