"""People and roles: the page, its JSON API twin, and the page an invitee sets their password on."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field
from sqlmodel import col, select

from app import mail
from app.auth import policy, security
from app.auth import service as auth_service
from app.auth.deps import PrincipalDep
from app.auth.models import Grant
from app.clusters.models import Cluster, Programme
from app.deps import SessionDep, SettingsDep
from app.errors import AppError, MailUnavailable
from app.forms import errors_by_field, refused
from app.i18n.routes import LocaleDep
from app.i18n.translation import _l
from app.people import mails, service
from app.people.deps import GrantDep, PeopleScopeDep
from app.web import redirect_after_post, render

pages = APIRouter(tags=["people"], include_in_schema=False)
api = APIRouter(tags=["people"])


def _scope_of(raw: str) -> tuple[int | None, int | None]:
    """The form's one select names a programme ("programme:3") or a cluster initiative ("cluster:7")."""
    kind, _, number = raw.partition(":")
    if kind not in ("programme", "cluster") or not number.isdigit():
        raise refused("scope", _l("Choose a programme or a cluster initiative."))
    return (int(number), None) if kind == "programme" else (None, int(number))


def _people_context(session: SessionDep, programmes: set[int] | None, **extra: Any) -> dict[str, Any]:
    programme_rows = select(Programme).order_by(col(Programme.name))
    cluster_rows = select(Cluster).order_by(col(Cluster.name))
    if programmes is not None:
        programme_rows = programme_rows.where(col(Programme.id).in_(programmes))
        cluster_rows = cluster_rows.where(col(Cluster.programme_id).in_(programmes))
    found_programmes = list(session.exec(programme_rows))
    found_clusters = list(session.exec(cluster_rows))
    return {
        "people": service.people(session, programme_ids=programmes),
        "programmes": found_programmes,
        "clusters": found_clusters,
        "scope_names": {("programme", p.id): p.name for p in found_programmes}
        | {("cluster", c.id): c.name for c in found_clusters},
        "roles": mails.ROLE_NAMES,
        "typed": {"role": "facilitator"},
        "errors": {},
        "invited": None,
        **extra,
    }


@pages.get("/people", response_class=HTMLResponse)
def people_page(request: Request, session: SessionDep, programmes: PeopleScopeDep) -> Response:
    return render(request, "people/people.html", _people_context(session, programmes))


def _invite(
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    locale: str,
    *,
    email: str,
    name: str,
    role: str,
    programme_id: int | None,
    cluster_id: int | None,
    language: str | None,
) -> tuple[Any, Grant, str | None, bool]:
    """Shared by the page and the API: the account and role, then the email. Without a mail server the link is
    handed back to pass on; a mail server that fails undoes everything (the error propagates)."""
    policy.require_role_scope(session, principal, programme_id, cluster_id)
    user, grant, token = service.invite(
        session,
        email=email,
        name=name or email.partition("@")[0],
        role=role,
        programme_id=programme_id,
        cluster_id=cluster_id,
        language=language,
        actor=principal.actor,
    )
    emailed = mail.configured(settings)
    if emailed:
        mails.send_invitation(session, settings, user, grant, token, inviter=principal.name, locale=locale)
    return user, grant, token, emailed


@pages.post("/people/invite", response_class=HTMLResponse)
def invite(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    programmes: PeopleScopeDep,
    locale: LocaleDep,
    email: Annotated[str, Form(max_length=300)] = "",
    name: Annotated[str, Form(max_length=300)] = "",
    role: Annotated[str, Form(max_length=20)] = "",
    scope: Annotated[str, Form(max_length=40)] = "",
    language: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    typed = {"email": email, "name": name, "role": role, "scope": scope, "language": language}
    try:
        programme_id, cluster_id = _scope_of(scope)
        user, _grant, token, emailed = _invite(
            session,
            settings,
            principal,
            locale,
            email=email,
            name=name,
            role=role,
            programme_id=programme_id,
            cluster_id=cluster_id,
            language=language or None,
        )
    except AppError as exc:
        if isinstance(exc, MailUnavailable):
            raise  # the account and role must not stay without the mail that announces them
        context = _people_context(session, programmes, typed=typed, errors=errors_by_field(exc, "email"))
        return render(request, "people/people.html", context, status_code=exc.status_code)
    invited = {
        "email": user.email,
        "emailed": emailed,
        "url": mails.setup_url(settings, token) if token and not emailed else None,
        "new": token is not None,
    }
    return render(request, "people/people.html", _people_context(session, programmes, invited=invited))


@pages.post("/grants/{grant_id}", response_class=HTMLResponse)
def change_role(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    grant: GrantDep,
    role: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    user_id = grant.user_id
    service.change_role(session, grant, role, actor=principal.actor)
    return redirect_after_post(f"/people#person-{user_id}", request)


@pages.post("/grants/{grant_id}/revoke", response_class=HTMLResponse)
def revoke_role(request: Request, session: SessionDep, principal: PrincipalDep, grant: GrantDep) -> Response:
    user_id = grant.user_id
    service.revoke(session, grant, actor=principal.actor)
    return redirect_after_post(f"/people#person-{user_id}", request)


# --- the invitee's own page ---------------------------------------------------------------------------------------


@pages.get("/account/setup/{token}", response_class=HTMLResponse)
def setup_page(token: str, request: Request, session: SessionDep) -> Response:
    """Looking only: the link is used up by the password, not by opening it (mail scanners open links)."""
    user = service.account_for_link(session, token)
    if user is None:
        return render(request, "people/setup.html", {"user": None}, status_code=404)
    return render(request, "people/setup.html", {"user": user, "error": None})


@pages.post("/account/setup/{token}", response_class=HTMLResponse)
def set_password(
    token: str, request: Request, session: SessionDep, password: Annotated[str, Form(max_length=1000)] = ""
) -> Response:
    user = service.account_for_link(session, token)
    if user is None:
        return render(request, "people/setup.html", {"user": None}, status_code=404)
    try:
        service.set_password_with_link(session, token, password)
    except AppError as exc:
        return render(request, "people/setup.html", {"user": user, "error": exc.message}, status_code=exc.status_code)
    # Logged in at once, as after a login: a fresh session and CSRF token.
    request.session.clear()
    request.session.update(sid=auth_service.start_login_session(session, user), csrf=security.new_csrf_token())
    return redirect_after_post("/", request)


# --- JSON API -----------------------------------------------------------------------------------------------------


class GrantRead(BaseModel):
    id: int
    role: str
    programme_id: int | None
    cluster_id: int | None


class PersonRead(BaseModel):
    id: int
    email: str
    name: str
    is_admin: bool
    is_active: bool
    pending: bool = Field(description="Invited and has not set a password yet")
    grants: list[GrantRead]


class Invitation(BaseModel):
    email: str = Field(max_length=254)
    name: str = Field(default="", max_length=200)
    role: str = Field(description="agency (with programme_id), facilitator (with cluster_id), observer (either)")
    programme_id: int | None = None
    cluster_id: int | None = None
    language: str | None = Field(default=None, max_length=10, description="Of the invitation and the account")


class InvitationSent(BaseModel):
    user_id: int
    grant: GrantRead
    emailed: bool = Field(description="The invitation went out by email (SMTP_HOST is set)")
    setup_url: str | None = Field(
        default=None, description="Only without a mail server, for a new account: the one-time link to pass on"
    )
    setup_expires_at: datetime | None = None


class RoleChange(BaseModel):
    role: str


def _grant_read(grant: Grant) -> GrantRead:
    assert grant.id is not None
    return GrantRead(id=grant.id, role=grant.role, programme_id=grant.programme_id, cluster_id=grant.cluster_id)


@api.get("/people", response_model=list[PersonRead])
def list_people(session: SessionDep, programmes: PeopleScopeDep) -> Any:
    """Staff with a role in your programmes (administrators: every account), with their roles."""
    return [
        PersonRead(
            id=p.user.id or 0,
            email=p.user.email,
            name=p.user.name,
            is_admin=p.user.is_admin,
            is_active=p.user.is_active,
            pending=p.pending,
            grants=[_grant_read(g) for g in p.grants],
        )
        for p in service.people(session, programme_ids=programmes)
    ]


@api.post("/people/invitations", response_model=InvitationSent, status_code=201)
def invite_person(
    data: Invitation,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    locale: LocaleDep,
    _programmes: PeopleScopeDep,
) -> Any:
    """A role for an email address; a new account gets a one-time link to set its password (emailed)."""
    user, grant, token, emailed = _invite(session, settings, principal, locale, **data.model_dump())
    url = mails.setup_url(settings, token) if token and not emailed else None
    return InvitationSent(
        user_id=user.id,
        grant=_grant_read(grant),
        emailed=emailed,
        setup_url=url,
        setup_expires_at=None if url is None else datetime.now().astimezone() + service.ACCOUNT_LINK_TTL,
    )


@api.patch("/grants/{grant_id}", response_model=GrantRead)
def change_grant(data: RoleChange, session: SessionDep, principal: PrincipalDep, grant: GrantDep) -> Any:
    """Another role on the same programme or cluster initiative (recorded in the audit trail)."""
    return _grant_read(service.change_role(session, grant, data.role, actor=principal.actor))


@api.delete("/grants/{grant_id}", status_code=204)
def revoke_grant(session: SessionDep, principal: PrincipalDep, grant: GrantDep) -> None:
    service.revoke(session, grant, actor=principal.actor)
