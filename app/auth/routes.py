"""Logging in and out, password change, the members' ways in (personal link, join code), API tokens."""

from datetime import UTC, date, datetime, time
from typing import Annotated, Any

import segno
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from app.auth import security
from app.auth import service as auth_service
from app.auth.deps import FailedAttemptsDep, PrincipalDep, StaffDep, TokenOwnerDep
from app.auth.models import ApiToken
from app.clusters import service as cluster_service
from app.clusters.deps import participant_for
from app.clusters.models import Participant
from app.clusters.schemas import ParticipantCreate
from app.deps import PathId, SessionDep, SettingsDep
from app.errors import AppError, Conflict, InvalidInput, NotFound
from app.rounds import service as round_service
from app.rounds.deps import round_for
from app.rounds.models import Round
from app.web import redirect_after_post, render

pages = APIRouter(tags=["pages"], include_in_schema=False)
# Marks a browser that logged into an account (security.device_cookie); it outlives logging out, by design.
DEVICE_COOKIE = "clusterscore_device"
DEVICE_COOKIE_AGE = 365 * 24 * 3600
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
    request: Request,
    session: SessionDep,
    attempts: FailedAttemptsDep,
    email: Annotated[str, Form()],
    password: Annotated[str, Form()],
) -> Response:
    secret = request.app.state.settings.secret_key
    device = security.device_of(request.cookies.get(DEVICE_COOKIE), email, secret)
    try:
        user = auth_service.authenticate(
            session,
            email=email,
            password=password,
            client_ip=_client_ip(request),
            device=device,
            attempts=attempts,
        )
    except AppError as exc:
        context = {"error": exc.message, "email": email}
        return render(
            request, "auth/login.html", context, block="login_form", status_code=exc.status_code, headers=exc.headers
        )
    _start_session(request, sid=auth_service.start_login_session(session, user))
    response = redirect_after_post("/", request)
    if device is None:
        # This browser is now known as the owner's: its failed logins are counted apart from everyone else's.
        response.set_cookie(
            DEVICE_COOKIE,
            security.device_cookie(user.email, secret),
            max_age=DEVICE_COOKIE_AGE,
            httponly=True,
            samesite="lax",
            secure=request.app.state.settings.environment == "production",
        )
    return response


@pages.post("/logout")
def logout(request: Request, session: SessionDep) -> Response:
    """Ends this browser's session on the server too: the cookie, kept or copied, opens nothing afterwards."""
    key = request.session.get("sid")
    if key is not None:
        auth_service.end_login_session(session, key)
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
    attempts: FailedAttemptsDep,
    current: Annotated[str, Form()],
    new: Annotated[str, Form()],
) -> Response:
    """Every session and API token of the user ends; this browser gets a new session."""
    assert principal.user is not None
    try:
        auth_service.change_password(session, principal.user, current=current, new=new, attempts=attempts)
    except AppError as exc:
        context = {"error": exc.message}
        return render(request, "auth/password.html", context, status_code=exc.status_code, headers=exc.headers)
    _start_session(request, sid=auth_service.start_login_session(session, principal.user))
    return render(request, "auth/password.html", {"done": True})


def _tokens_page(
    request: Request, session: SessionDep, principal: StaffDep, context: dict[str, Any], status_code: int = 200
) -> Response:
    assert principal.user is not None
    tokens = [_token_read(t) for t in auth_service.api_tokens(session, principal.user)]
    return render(request, "auth/tokens.html", {"tokens": tokens, **context}, status_code=status_code)


@pages.get("/account/tokens", response_class=HTMLResponse)
def tokens_page(request: Request, session: SessionDep, principal: StaffDep) -> Response:
    return _tokens_page(request, session, principal, {})


@pages.post("/account/tokens", response_class=HTMLResponse)
def create_token(
    request: Request,
    session: SessionDep,
    principal: StaffDep,
    name: Annotated[str, Form(max_length=100)] = "",
    expires_on: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """The new token is on the page this once, never again."""
    assert principal.user is not None
    try:
        expires_at = _end_of_day(expires_on) if expires_on else None
        token, plaintext = auth_service.issue_api_token(session, principal.user, name, expires_at=expires_at)
    except AppError as exc:
        context = {"error": exc.message, "form": {"name": name, "expires_on": expires_on}}
        return _tokens_page(request, session, principal, context, status_code=exc.status_code)
    return _tokens_page(request, session, principal, {"issued": plaintext, "issued_name": token.name})


@pages.post("/account/tokens/{token_id}/revoke")
def revoke_token(token_id: PathId, request: Request, session: SessionDep, owner: TokenOwnerDep) -> Response:
    auth_service.revoke_api_token(session, owner, token_id)
    return redirect_after_post("/account/tokens", request)


def _end_of_day(day: str) -> datetime:
    """A date typed in the form: the token works through that day (UTC)."""
    try:
        return datetime.combine(date.fromisoformat(day), time.max, tzinfo=UTC)
    except ValueError:
        raise InvalidInput("Enter the date as YYYY-MM-DD.") from None


def _start_member_session(request: Request, session: SessionDep, **way_in: int | None) -> None:
    """A member's session, named by its way in (the link or the registration), which it lasts as long as. A staff
    session it replaces ends on the server too."""
    key = request.session.get("sid")
    if key is not None:
        auth_service.end_login_session(session, key)
    _start_session(request, **way_in)


@pages.get("/m/{token}")
def member_link(token: str, request: Request, session: SessionDep, principal: PrincipalDep) -> Response:
    """A member's personal link: no password, the long random token is the credential. A logged-in staff user
    is asked first: a link from another site must not turn a facilitator's browser into a member's."""
    found = auth_service.link_for_token(session, token)
    if found is None:
        return render(request, "auth/link_invalid.html", status_code=404)
    link, participant = found
    if principal.user is not None:
        context = {"participant": participant, "action": request.url.path}
        return render(request, "auth/switch.html", context)
    _start_session(request, participant_id=participant.id, link_id=link.id)
    return RedirectResponse("/", status_code=303)


@pages.post("/m/{token}")
def switch_to_member(token: str, request: Request, session: SessionDep) -> Response:
    """The staff user confirmed: their session ends and the member's begins."""
    found = auth_service.link_for_token(session, token)
    if found is None:
        return render(request, "auth/link_invalid.html", status_code=404)
    link, participant = found
    _start_member_session(request, session, participant_id=participant.id, link_id=link.id)
    return redirect_after_post("/", request)


@pages.get("/join", response_class=HTMLResponse)
def join_page(request: Request) -> Response:
    return render(request, "auth/join.html")


@pages.post("/join", response_class=HTMLResponse)
def join(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    attempts: FailedAttemptsDep,
    code: Annotated[str, Form(max_length=20)],
    person_name: Annotated[str, Form(min_length=1, max_length=200)],
    organisation: Annotated[str, Form(min_length=1, max_length=200)],
) -> Response:
    try:
        join_code = auth_service.round_for_join_code(
            session,
            code,
            secret=settings.secret_key,
            client_ip=_client_ip(request),
            device=request.session.setdefault("device", security.new_session_key()),
            attempts=attempts,
        )
        round_ = round_service.get_round(session, join_code.round_id)
        if round_.status != "open":
            raise Conflict("This round is not open for answers.")
    except AppError as exc:
        context = {"error": exc.message, "code": code, "person_name": person_name, "organisation": organisation}
        return render(request, "auth/join.html", context, status_code=exc.status_code, headers=exc.headers)
    cluster = cluster_service.get_cluster(session, round_.cluster_id)
    participant = auth_service.returning_registrant(
        session, join_code, organisation=organisation, person_name=person_name
    ) or cluster_service.add_participant(
        session, cluster, ParticipantCreate(organisation=organisation.strip(), person_name=person_name.strip())
    )
    assert participant.id is not None
    registration = auth_service.record_registration(session, join_code, participant.id)
    _start_member_session(request, session, participant_id=participant.id, registration_id=registration.id)
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
    expires_at: datetime | None = Field(default=None, description="Optional: the token stops working then")


class TokenIssued(BaseModel):
    id: int
    name: str
    expires_at: datetime | None
    token: str = Field(description="Shown once; store it safely")


class TokenRead(BaseModel):
    """A token as listed: never the token itself, which only its creator saw, once."""

    id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    active: bool


def _token_read(token: ApiToken) -> TokenRead:
    assert token.id is not None
    return TokenRead(
        id=token.id,
        name=token.name,
        created_at=token.created_at,
        last_used_at=token.last_used_at,
        expires_at=token.expires_at,
        revoked_at=token.revoked_at,
        active=auth_service.is_api_token_active(token),
    )


@api.get("/me/tokens", response_model=list[TokenRead])
def list_api_tokens(session: SessionDep, principal: StaffDep) -> Any:
    """Your API tokens, newest first, with when each was last used; revoked and expired ones too."""
    assert principal.user is not None
    return [_token_read(t) for t in auth_service.api_tokens(session, principal.user)]


@api.post("/me/tokens", response_model=TokenIssued, status_code=201)
def issue_api_token(data: TokenCreate, session: SessionDep, principal: StaffDep) -> Any:
    """A new personal token for scripts, shown in this answer only. A password change revokes every token."""
    assert principal.user is not None
    token, plaintext = auth_service.issue_api_token(session, principal.user, data.name, expires_at=data.expires_at)
    assert token.id is not None
    return TokenIssued(id=token.id, name=token.name, expires_at=token.expires_at, token=plaintext)


@api.delete("/me/tokens/{token_id}", status_code=204)
def revoke_api_token(token_id: PathId, session: SessionDep, owner: TokenOwnerDep) -> None:
    auth_service.revoke_api_token(session, owner, token_id)


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
    url = f"{settings.public_url}/m/{token}"
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
