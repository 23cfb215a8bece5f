"""Staff accounts and their roles: invitations by email, the one-time link with which an invitee sets their own
password, and the roles (grants) listed, changed and revoked. Every change is in the audit trail.

Takes the request's session, flushes, never commits, like every service."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update as sa_update
from sqlmodel import Session, col, or_, select

from app.audit import service as audit
from app.auth import security
from app.auth import service as auth_service
from app.auth.models import AccountLink, Grant, User
from app.clusters.models import Cluster
from app.errors import Conflict, InvalidInput, NotFound
from app.i18n.translation import LOCALES
from app.timeutil import as_utc, utcnow

# Long enough to be read after a weekend; an unused link is worth nothing after that (a new invitation is cheap).
ACCOUNT_LINK_TTL = timedelta(days=7)


@dataclass
class Person:
    user: User
    grants: list[Grant]
    # Invited, and has not yet set a password with the link.
    pending: bool


def people(session: Session, *, programme_ids: set[int] | None) -> list[Person]:
    """Staff with a role in these programmes (on the programme or one of its clusters); every account for None
    (an administrator), including those without any role."""
    users = select(User).order_by(col(User.email))
    if programme_ids is not None:
        in_scope = (
            select(Grant.user_id)
            .outerjoin(Cluster, col(Cluster.id) == col(Grant.cluster_id))
            .where(or_(col(Grant.programme_id).in_(programme_ids), col(Cluster.programme_id).in_(programme_ids)))
        )
        users = users.where(col(User.id).in_(in_scope))
    found = list(session.exec(users))
    ids = [u.id for u in found]
    grants: dict[int | None, list[Grant]] = {}
    for grant in session.exec(select(Grant).where(col(Grant.user_id).in_(ids)).order_by(col(Grant.id))):
        grants.setdefault(grant.user_id, []).append(grant)
    links = session.exec(select(AccountLink.user_id, AccountLink.used_at).where(col(AccountLink.user_id).in_(ids)))
    invited: set[int] = set()
    activated: set[int] = set()
    for user_id, used_at in links:
        (activated if used_at is not None else invited).add(user_id)
    pending = invited - activated
    return [Person(user=u, grants=grants.get(u.id, []), pending=u.id in pending) for u in found]


def invite(
    session: Session,
    *,
    email: str,
    name: str,
    role: str,
    programme_id: int | None,
    cluster_id: int | None,
    language: str | None,
    actor: str,
    now: datetime | None = None,
) -> tuple[User, Grant, str | None]:
    """The role for this address, and a new account for it if there is none. Returns the one-time link's token
    for a new account (or one whose owner has not set a password yet), None for someone who already has one:
    they simply find the new role when they next log in."""
    if language and language not in LOCALES:
        raise InvalidInput("Unknown language '%(lang)s'.", lang=language)
    user = auth_service.user_by_email(session, email)
    token = None
    if user is None:
        # A random password nobody knows, so the account opens only through the link.
        user = auth_service.create_user(
            session, email=email, name=name, password=security.new_session_key(), language=language or None
        )
        audit.record(
            session,
            actor=actor,
            action="user_invited",
            entity="user",
            entity_id=user.id,
            cluster_id=cluster_id,
            after={"email": user.email, "name": user.name},
        )
        token = issue_account_link(session, user, actor=actor, now=now)
    elif has_pending_link(session, user):
        token = issue_account_link(session, user, actor=actor, now=now)
    grant = auth_service.grant(session, user, role=role, programme_id=programme_id, cluster_id=cluster_id, actor=actor)
    return user, grant, token


def has_pending_link(session: Session, user: User) -> bool:
    """Invited, and never set a password with a link: a new invitation sends a new link."""
    used = list(session.exec(select(AccountLink.used_at).where(AccountLink.user_id == user.id)))
    return bool(used) and all(at is None for at in used)


def issue_account_link(session: Session, user: User, *, actor: str, now: datetime | None = None) -> str:
    """A new one-time link; an earlier unused one stops working (only the newest invitation counts)."""
    now = now or utcnow()
    assert user.id is not None
    _retire_links(session, user, now)
    token = security.new_member_token()
    session.add(
        AccountLink(
            user_id=user.id,
            token_hash=security.token_hash(token),
            created_by=actor,
            created_at=now,
            expires_at=now + ACCOUNT_LINK_TTL,
        )
    )
    session.flush()
    return token


def _retire_links(session: Session, user: User, now: datetime) -> None:
    session.exec(
        sa_update(AccountLink)
        .where(
            col(AccountLink.user_id) == user.id, col(AccountLink.used_at).is_(None), col(AccountLink.expires_at) > now
        )
        .values(expires_at=now)
    )


def account_for_link(session: Session, token: str, *, now: datetime | None = None) -> User | None:
    """The account a one-time link opens: unused, unexpired, the account active. None for anything else."""
    if not token or len(token) > 200:
        return None
    row = session.exec(
        select(AccountLink, User)
        .join(User, col(User.id) == col(AccountLink.user_id))
        .where(AccountLink.token_hash == security.token_hash(token))
    ).first()
    if row is None:
        return None
    link, user = row
    if link.used_at is not None or as_utc(link.expires_at) <= (now or utcnow()) or not user.is_active:
        return None
    return user


def set_password_with_link(session: Session, token: str, password: str, *, now: datetime | None = None) -> User:
    """Uses the link up: the same link never works twice, even if the mail is forwarded later."""
    now = now or utcnow()
    user = account_for_link(session, token, now=now)
    if user is None:
        raise NotFound("This link is not valid (any more). Ask whoever invited you for a new one.")
    auth_service.set_password(session, user, password, now=now)
    session.exec(
        sa_update(AccountLink).where(col(AccountLink.token_hash) == security.token_hash(token)).values(used_at=now)
    )
    _retire_links(session, user, now)
    audit.record(
        session,
        actor=f"user:{user.id}:{user.email}",
        action="password_set_from_link",
        entity="user",
        entity_id=user.id,
        cluster_id=None,
    )
    session.flush()
    return user


def get_grant(session: Session, grant_id: int) -> Grant:
    grant = session.get(Grant, grant_id)
    if grant is None:
        raise NotFound("No such role.")
    return grant


def change_role(session: Session, grant: Grant, role: str, *, actor: str) -> Grant:
    """Another role on the same programme or cluster (a facilitator who becomes an observer): the same grant, with
    the scope rules of a new one, and the change on record."""
    if role == grant.role:
        return grant
    auth_service.check_scope(role, grant.programme_id, grant.cluster_id)
    twin = select(Grant.id).where(
        Grant.user_id == grant.user_id,
        Grant.role == role,
        Grant.programme_id == grant.programme_id if grant.programme_id else Grant.cluster_id == grant.cluster_id,
    )
    if session.exec(twin).first() is not None:
        raise Conflict("This person already has that role there.")
    audit.record(
        session,
        actor=actor,
        action="change_role",
        entity="user",
        entity_id=grant.user_id,
        cluster_id=grant.cluster_id,
        before={"grant_id": grant.id, "role": grant.role},
        after={"grant_id": grant.id, "role": role},
    )
    grant.role = role
    session.add(grant)
    session.flush()
    return grant


def revoke(session: Session, grant: Grant, *, actor: str) -> None:
    user = session.get(User, grant.user_id)
    assert user is not None
    auth_service.revoke_grant(
        session, user, role=grant.role, programme_id=grant.programme_id, cluster_id=grant.cluster_id, actor=actor
    )
