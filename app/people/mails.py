"""The invitation a staff member receives, in their language (the one chosen for them, else the inviter's)."""

from sqlmodel import Session

from app import mail
from app.auth.models import Grant, User
from app.clusters.models import Cluster, Programme
from app.config import Settings
from app.i18n.translation import _l
from app.people.service import ACCOUNT_LINK_TTL
from app.timeutil import utcnow
from app.web import render_mail

ROLE_NAMES = {"agency": _l("agency staff"), "facilitator": _l("facilitator"), "observer": _l("observer")}


def scope_name(session: Session, grant: Grant) -> str:
    scope = session.get(Programme, grant.programme_id) if grant.programme_id else session.get(Cluster, grant.cluster_id)
    return scope.name if scope is not None else ""


def setup_url(settings: Settings, token: str) -> str:
    return f"{settings.public_url}/account/setup/{token}"


def send_invitation(
    session: Session, settings: Settings, user: User, grant: Grant, token: str | None, *, inviter: str, locale: str
) -> None:
    """Raises MailUnavailable (the caller's transaction then rolls back: no account, no role, no link)."""
    subject, body = render_mail(
        "mail/staff_invitation.txt",
        user.language or locale,
        name=user.name,
        inviter=inviter,
        role=ROLE_NAMES[grant.role],
        scope=scope_name(session, grant),
        url=setup_url(settings, token) if token else None,
        expires=(utcnow() + ACCOUNT_LINK_TTL).date(),
        login_url=f"{settings.public_url}/login",
    )
    mail.send(settings, [mail.Mail(to=user.email, subject=subject, body=body, language=user.language or locale)])
