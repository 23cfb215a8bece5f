"""Resolving the principal once per request, and refusing state changes without a CSRF token."""

from fastapi import Request

from app.auth import security
from app.auth import service as auth_service
from app.auth.models import User
from app.auth.principal import Principal
from app.clusters.models import Participant
from app.db import SAFE_METHODS, database_work
from app.deps import SessionDep
from app.errors import Forbidden, Unauthorized
from app.timeutil import as_utc


def session_stamp(user: User) -> str:
    """Stored in the session at login; a password change moves it on and so ends every other session."""
    return as_utc(user.password_changed_at).isoformat()


@database_work
def load_principal(request: Request, session: SessionDep) -> Principal:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        user = auth_service.user_for_api_token(session, header[7:].strip())
        if user is None:
            raise Unauthorized("This API token is not valid (any more).")
        principal = Principal(user=user, grants=auth_service.grants_of(session, user), via_api_token=True)
    else:
        principal = Principal()
        user_id = request.session.get("user_id")
        participant_id = request.session.get("participant_id")
        if user_id is not None:
            user = session.get(User, user_id)
            if user is not None and user.is_active and request.session.get("stamp") == session_stamp(user):
                principal = Principal(user=user, grants=auth_service.grants_of(session, user))
            else:
                request.session.pop("user_id", None)
        elif participant_id is not None:
            participant = session.get(Participant, participant_id)
            if participant is not None and participant.active:
                principal = Principal(participant=participant)
            else:
                request.session.pop("participant_id", None)
    request.state.principal = principal
    return principal


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
