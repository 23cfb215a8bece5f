"""Resolving the principal once per request, and refusing state changes without a CSRF token."""

from collections.abc import AsyncIterator
from typing import Annotated

import anyio
from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from app.auth import security
from app.auth import service as auth_service
from app.auth.models import User
from app.auth.policy import require_admin, require_staff, require_token_owner
from app.auth.principal import Principal
from app.db import SAFE_METHODS
from app.deps import SessionDep
from app.errors import Forbidden, Unauthorized


def load_principal(request: Request, session: SessionDep) -> Principal:
    """Who is asking: a Bearer API token, or the browser's session cookie, whose identity holds only while its
    server-side state does (a staff user's login session; a member's link or registration, and the member)."""
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        record_use = request.method not in SAFE_METHODS
        user = auth_service.user_for_api_token(session, header[7:].strip(), record_use=record_use)
        if user is None:
            raise Unauthorized("This API token is not valid (any more).")
        principal = Principal(user=user, grants=auth_service.grants_of(session, user), via_api_token=True)
    else:
        principal = Principal()
        key = request.session.get("sid")
        participant_id = request.session.get("participant_id")
        if key is not None:
            user = auth_service.user_for_login_session(session, key)
            if user is not None:
                principal = Principal(user=user, grants=auth_service.grants_of(session, user))
            else:
                request.session.pop("sid", None)
        elif participant_id is not None:
            participant = auth_service.member_of_session(
                session,
                participant_id,
                link_id=request.session.get("link_id"),
                registration_id=request.session.get("registration_id"),
            )
            if participant is not None:
                principal = Principal(participant=participant)
            else:
                for name in ("participant_id", "link_id", "registration_id"):
                    request.session.pop(name, None)
    request.state.principal = principal
    return principal


async def failed_attempts(request: Request) -> AsyncIterator[auth_service.FailedAttempts]:
    """The request's failed login, join-code and password attempts, recorded by the rate limiter in a session of
    its own. An app-wide dependency listed before the request's session, so that it ends after it: the
    request's transaction is over, committed or rolled back, when the failures are recorded."""
    attempts = auth_service.FailedAttempts()
    try:
        yield attempts
    finally:
        if attempts.buckets:
            with anyio.CancelScope(shield=True):
                await run_in_threadpool(attempts.record, request.app.state.engine)


FailedAttemptsDep = Annotated[auth_service.FailedAttempts, Depends(failed_attempts, scope="function")]


async def verify_csrf(request: Request) -> None:
    """Double-submit check: the session's token must come back in a header (htmx, JSON) or a form field."""
    if request.url.path.startswith("/openrosa/"):
        # ODK Collect sends no CSRF token. These routes are safe without one: their credential is the
        # member token in the URL path, never the session cookie, so a forged cross-site request
        # carries nothing it could abuse (see app/interop/routes.py).
        return
    request.session.setdefault("csrf", security.new_csrf_token())
    if request.method in SAFE_METHODS:
        return
    if request.headers.get("Authorization", "")[:7].lower() == "bearer ":
        return
    submitted = request.headers.get("X-CSRF-Token")
    if submitted is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        submitted = str((await request.form()).get("csrf_token") or "")
    if not security.csrf_matches(request.session.get("csrf"), submitted):
        raise Forbidden("The form has expired or did not come from this site. Reload the page and try again.")


async def get_principal(request: Request) -> Principal:
    """The principal load_principal resolved for this request."""
    principal: Principal = request.state.principal
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def _staff(principal: PrincipalDep) -> Principal:
    require_staff(principal)
    return principal


async def _admin(principal: PrincipalDep) -> Principal:
    require_admin(principal)
    return principal


async def _token_owner(principal: PrincipalDep) -> User:
    require_token_owner(principal)
    assert principal.user is not None
    return principal.user


StaffDep = Annotated[Principal, Depends(_staff)]
AdminDep = Annotated[Principal, Depends(_admin)]
TokenOwnerDep = Annotated[User, Depends(_token_owner)]
