"""Accounts, roles, API tokens, member links, join codes and the rate limits that guard them.

Like every service: takes the request's session, flushes, never commits. Failed attempts are
counted by the rate limiter in a session of its own (`FailedAttempts`): they must survive the
rollback of the request.
"""

import math
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import delete, func, or_
from sqlalchemy import update as sa_update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from app.audit import service as audit
from app.auth import security
from app.auth.models import (
    ROLES,
    ApiToken,
    Grant,
    JoinCode,
    LoginSession,
    MemberLink,
    RateLimitHit,
    Registration,
    User,
)
from app.clusters import roster
from app.clusters.models import Cluster, Participant, Programme
from app.db import open_session
from app.errors import Conflict, InvalidInput, NotFound, TooManyAttempts, Unauthorized
from app.i18n.translation import _l, _nl
from app.proposals.models import IndicatorProposal
from app.responses.models import Response
from app.rounds.models import Round
from app.timeutil import as_utc, utcnow

# Logins are limited to hurt a guesser, not the owner (tests/integration/auth/test_rate_limits.py):
# - per account and address, delays that double after 5 failures (1 s, 2 s, 4 s ... at most 15 minutes), so the
#   owner elsewhere is not affected and a guesser at one address gets about a dozen tries an hour;
# - per account from all addresses, a ceiling for guessers spread over many addresses; a browser that has logged
#   into the account before (its device cookie) is counted on its own instead, so the owner always gets in;
# - per address over all accounts, a ceiling for trying one password on many accounts, high because an office
#   or a venue puts many honest people behind one address.
LOGIN_WINDOW = timedelta(hours=1)
LOGIN_FREE_FAILURES = 5
LOGIN_LONGEST_DELAY = timedelta(minutes=15)
LOGIN_FAILURES_PER_ACCOUNT = 100
LOGIN_FAILURES_PER_IP = 300
# Join codes: a room of people typing a code off a projector makes typos, all from one address. Failures are
# counted per device (a random id in the browser's session cookie), the address only against a high ceiling;
# against ~8.5e11 possible codes a guesser gets nowhere either way. Per code, registrations in a short time are
# capped, so a code that leaves the room cannot fill the round with made-up participants.
JOIN_CODE_WINDOW = timedelta(minutes=15)
JOIN_CODE_FAILURES_PER_DEVICE = 10
JOIN_CODE_FAILURES_PER_IP = 1000
JOIN_CODE_REGISTRATIONS = 200
# Someone with a stolen session must not be able to guess the current password either.
PASSWORD_CHANGE_WINDOW = timedelta(minutes=15)
PASSWORD_CHANGE_FAILURES = 10
# Hits older than every window are useless and get pruned; windows must not exceed this.
RATE_LIMIT_RETENTION = timedelta(hours=1)
# Bounded, so the opportunistic prune stays cheap even after a long quiet spell or an attack.
_PRUNE_BATCH = 500
# Bucket keys are truncated: nothing longer than an email address can be a real account.
_BUCKET_VALUE_MAX = 254

# Of member links and API tokens: far enough for any evaluation cycle; a bound keeps every expiry a date both
# databases and JSON can hold.
MAX_EXPIRY = timedelta(days=3653)
# A staff browser stays logged in this long at most (the session cookie's own lifetime).
LOGIN_TTL = timedelta(days=14)
DEFAULT_JOIN_CODE_TTL = timedelta(hours=4)
# A code is short enough to be guessable in principle; it must not stay valid for weeks.
MAX_JOIN_CODE_TTL = timedelta(days=7)
# last_used_at is for "is this token still used?" (to change data: reads write nothing); minute precision
# spares a write on every API call.
_LAST_USED_RESOLUTION = timedelta(minutes=1)
# Longer input cannot be a token we issued; refuse it before hashing or querying.
_MAX_TOKEN_LENGTH = 200

WRONG_LOGIN = _l("Wrong email or password.")
INVALID_JOIN_CODE = _l("This code is not valid (any more).")


def _now(now: datetime | None) -> datetime:
    return utcnow() if now is None else as_utc(now)


class FailedAttempts:
    """One request's failed attempts, counted against their rate limits once its transaction has ended.

    The request's transaction is rolled back by the error raised after a failure, and an uncounted failure
    would be a free guess; so the limiter records failures in a short session of its own. It does so after
    the request's session has ended (app.auth.deps.failed_attempts): on SQLite the request's transaction
    holds the database's one write lock from its first statement, and a second session could not write
    before it ends.
    """

    def __init__(self) -> None:
        self.buckets: list[str] = []
        self.at: datetime | None = None

    def add(self, *buckets: str, now: datetime) -> None:
        self.buckets.extend(buckets)
        self.at = as_utc(now)

    def record(self, engine: Engine) -> None:
        if not self.buckets or self.at is None:
            return
        with open_session(engine, writes=True) as own:
            own.add_all([RateLimitHit(bucket=bucket, at=self.at) for bucket in self.buckets])
            # Pruning rides along with the write made anyway. SKIP LOCKED (PostgreSQL; SQLite has one writer
            # at a time) keeps two processes pruning at once from waiting on, or deadlocking over, the same rows.
            stale = (
                select(RateLimitHit.id)
                .where(col(RateLimitHit.at) < self.at - RATE_LIMIT_RETENTION)
                .limit(_PRUNE_BATCH)
                .with_for_update(skip_locked=True)
            )
            own.exec(delete(RateLimitHit).where(col(RateLimitHit.id).in_(stale)))
            own.commit()
        self.buckets.clear()


# --- Users -------------------------------------------------------------------------------------


def normalise_email(email: str) -> str:
    """Emails are compared lower-cased: nobody expects Ana@x.org and ana@x.org to be two accounts."""
    return email.strip().lower()


def _check_email(email: str) -> None:
    # Deliberately loose: the only real check of an address is a mail that arrives.
    local, _, domain = email.partition("@")
    if not local or not domain or "@" in domain or len(email) > 254 or any(ch.isspace() for ch in email):
        raise InvalidInput("Enter a valid email address.")


def _check_password(password: str) -> None:
    try:
        security.check_password_strength(password)
    except ValueError as exc:
        raise InvalidInput(exc.args[0]) from exc  # a Msg: translated when shown


def user_by_email(session: Session, email: str) -> User | None:
    return session.exec(select(User).where(User.email == normalise_email(email))).first()


def create_user(
    session: Session,
    *,
    email: str,
    name: str,
    password: str,
    is_admin: bool = False,
    language: str | None = None,
) -> User:
    email = normalise_email(email)
    _check_email(email)
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInput("Enter a name of at most 200 characters.")
    _check_password(password)
    if user_by_email(session, email) is not None:
        raise Conflict("An account with this email address already exists.")
    user = User(
        email=email,
        name=name,
        password_hash=security.hash_password(password),
        is_admin=is_admin,
        language=language,
    )
    session.add(user)
    session.flush()
    return user


def authenticate(
    session: Session,
    *,
    email: str,
    password: str,
    client_ip: str,
    device: str | None = None,
    attempts: FailedAttempts,
    now: datetime | None = None,
) -> User:
    """Same answer, and about the same time, for an unknown email and a wrong password. `device`: the id of a
    browser that logged into this account before (security.device_of), counted on its own."""
    now = _now(now)
    email = normalise_email(email)
    if device is not None:
        buckets = [_bucket("login:device", device)]
        _check_delay(session, buckets[0], now=now)
    else:
        buckets = [
            _bucket("login:pair", f"{client_ip} {email}"),
            _bucket("login:account", email),
            _bucket("login:ip", client_ip),
        ]
        # Checked before the password, so a held-off guesser learns nothing, not even from a right guess.
        _check_delay(session, buckets[0], now=now)
        check_rate_limit(session, buckets[1], limit=LOGIN_FAILURES_PER_ACCOUNT, window=LOGIN_WINDOW, now=now)
        check_rate_limit(session, buckets[2], limit=LOGIN_FAILURES_PER_IP, window=LOGIN_WINDOW, now=now)
    user = user_by_email(session, email)
    if user is None:
        security.verify_password(password, security.dummy_password_hash())
        ok, new_hash = False, None
    else:
        ok, new_hash = security.verify_and_rehash(password, user.password_hash)
    if not ok or user is None:
        attempts.add(*buckets, now=now)
        raise Unauthorized(WRONG_LOGIN)
    if not user.is_active:
        # Only said to someone who knows the password, so it reveals nothing to a guesser.
        raise Unauthorized("This account has been deactivated. Ask an administrator to reactivate it.")
    if new_hash is not None:
        user.password_hash = new_hash
        session.add(user)
        session.flush()
    return user


def set_password(session: Session, user: User, new: str, *, now: datetime | None = None) -> None:
    """Ends every session of the user and revokes every API token, so a reset locks out whoever took the
    account over, in a browser or through a script; the caller starts a new session for the browser in hand."""
    _check_password(new)
    now = _now(now)
    user.password_hash = security.hash_password(new)
    user.password_changed_at = now
    session.add(user)
    end_login_sessions(session, user, now=now)
    session.exec(
        sa_update(ApiToken)
        .where(col(ApiToken.user_id) == user.id, col(ApiToken.revoked_at).is_(None))
        .values(revoked_at=now)
    )
    session.flush()


# --- Login sessions ----------------------------------------------------------------------------


def start_login_session(session: Session, user: User, *, now: datetime | None = None) -> str:
    """A new session for a browser that just logged in; returns the key its cookie carries (only the hash is
    stored). Expired rows of the user are cleared on the way."""
    now = _now(now)
    assert user.id is not None
    session.exec(delete(LoginSession).where(col(LoginSession.user_id) == user.id, col(LoginSession.expires_at) < now))
    key = security.new_session_key()
    session.add(
        LoginSession(token_hash=security.token_hash(key), user_id=user.id, created_at=now, expires_at=now + LOGIN_TTL)
    )
    session.flush()
    return key


Secret = TypeVar("Secret", ApiToken, LoginSession)


def _with_user(session: Session, model: type[Secret], secret: str) -> tuple[Secret, User] | None:
    """The row a secret of a user names (an API token, a session key), with the user: one lookup of its hash.
    Longer input cannot be a secret we issued, and costs neither a hash nor a query."""
    if not secret or len(secret) > _MAX_TOKEN_LENGTH:
        return None
    statement = (
        select(model, User)
        .join(User, col(User.id) == col(model.user_id))
        .where(col(model.token_hash) == security.token_hash(secret))
    )
    row = session.exec(statement).first()
    return None if row is None else (row[0], row[1])


def user_for_login_session(session: Session, key: str, *, now: datetime | None = None) -> User | None:
    """The user of a live session: not ended, not expired, the account active. None for anything else."""
    found = _with_user(session, LoginSession, key)
    if found is None:
        return None
    login, user = found
    if login.ended_at is not None or as_utc(login.expires_at) <= _now(now) or not user.is_active:
        return None
    return user


def end_login_session(session: Session, key: str, *, now: datetime | None = None) -> None:
    """Logging out: this browser's session ends for good."""
    session.exec(
        sa_update(LoginSession)
        .where(col(LoginSession.token_hash) == security.token_hash(key), col(LoginSession.ended_at).is_(None))
        .values(ended_at=_now(now))
    )


def end_login_sessions(session: Session, user: User, *, now: datetime | None = None) -> None:
    """Every browser of the user is logged out (a password change, a reset)."""
    session.exec(
        sa_update(LoginSession)
        .where(col(LoginSession.user_id) == user.id, col(LoginSession.ended_at).is_(None))
        .values(ended_at=_now(now))
    )


def change_password(
    session: Session,
    user: User,
    *,
    current: str,
    new: str,
    attempts: FailedAttempts,
    now: datetime | None = None,
) -> None:
    """Asks for the current password, so a borrowed, logged-in browser cannot take the account over."""
    now = _now(now)
    bucket = _bucket("password:user", str(user.id))
    check_rate_limit(session, bucket, limit=PASSWORD_CHANGE_FAILURES, window=PASSWORD_CHANGE_WINDOW, now=now)
    if not security.verify_password(current, user.password_hash):
        attempts.add(bucket, now=now)
        raise InvalidInput("The current password is not correct.")
    set_password(session, user, new, now=now)


# --- Roles -------------------------------------------------------------------------------------


def check_scope(role: str, programme_id: int | None, cluster_id: int | None) -> None:
    if role not in ROLES:
        raise InvalidInput("Unknown role '%(role)s'; choose one of %(roles)s.", role=role, roles=", ".join(ROLES))
    if (programme_id is None) == (cluster_id is None):
        raise InvalidInput("A role applies to either one programme or one cluster initiative.")
    if role == "agency" and programme_id is None:
        raise InvalidInput("Agency staff are given a programme, not a single cluster initiative.")
    if role == "facilitator" and cluster_id is None:
        raise InvalidInput("Facilitators are given a cluster initiative, not a whole programme.")


def _find_grant(
    session: Session, user_id: int | None, role: str, programme_id: int | None, cluster_id: int | None
) -> Grant | None:
    statement = select(Grant).where(Grant.user_id == user_id, Grant.role == role)
    if programme_id is not None:
        statement = statement.where(Grant.programme_id == programme_id)
    if cluster_id is not None:
        statement = statement.where(Grant.cluster_id == cluster_id)
    return session.exec(statement).first()


def _grant_facts(grant: Grant) -> dict[str, Any]:
    return {"role": grant.role, "programme_id": grant.programme_id, "cluster_id": grant.cluster_id}


def grant(
    session: Session,
    user: User,
    *,
    role: str,
    programme_id: int | None = None,
    cluster_id: int | None = None,
    actor: str,
) -> Grant:
    """Idempotent: granting a role the user already has returns it and writes no audit entry."""
    check_scope(role, programme_id, cluster_id)
    if programme_id is not None and session.get(Programme, programme_id) is None:
        raise NotFound("No such programme.")
    if cluster_id is not None and session.get(Cluster, cluster_id) is None:
        raise NotFound("No such cluster initiative.")
    existing = _find_grant(session, user.id, role, programme_id, cluster_id)
    if existing is not None:
        return existing
    assert user.id is not None
    new_grant = Grant(user_id=user.id, role=role, programme_id=programme_id, cluster_id=cluster_id)
    session.add(new_grant)
    audit.record(
        session,
        actor=actor,
        action="grant_role",
        entity="user",
        entity_id=user.id,
        cluster_id=cluster_id,
        before=None,
        after=_grant_facts(new_grant),
    )
    session.flush()
    return new_grant


def grant_on(session: Session, user: User, role: str, scope: Programme | Cluster, *, actor: str) -> Grant:
    """A role on a programme or cluster object, for callers that hold the object rather than its id."""
    return grant(
        session,
        user,
        role=role,
        programme_id=scope.id if isinstance(scope, Programme) else None,
        cluster_id=scope.id if isinstance(scope, Cluster) else None,
        actor=actor,
    )


def revoke_grant(
    session: Session,
    user: User,
    *,
    role: str,
    programme_id: int | None = None,
    cluster_id: int | None = None,
    actor: str,
) -> None:
    existing = None
    if (programme_id is None) != (cluster_id is None):
        existing = _find_grant(session, user.id, role, programme_id, cluster_id)
    if existing is None:
        raise NotFound("This user does not have that role.")
    audit.record(
        session,
        actor=actor,
        action="revoke_role",
        entity="user",
        entity_id=user.id,
        cluster_id=existing.cluster_id,
        before=_grant_facts(existing),
        after=None,
    )
    session.delete(existing)
    session.flush()


def grants_of(session: Session, user: User) -> list[Grant]:
    return list(session.exec(select(Grant).where(Grant.user_id == user.id).order_by(col(Grant.id))))


def roles_for_cluster(session: Session, user: User, cluster_id: int) -> set[str]:
    """Roles that apply to a cluster, directly or through its programme; admins are checked separately."""
    if not user.is_active:
        return set()
    cluster = session.get(Cluster, cluster_id)
    if cluster is None:
        return set()
    statement = select(Grant.role).where(
        Grant.user_id == user.id,
        or_(col(Grant.cluster_id) == cluster_id, col(Grant.programme_id) == cluster.programme_id),
    )
    return set(session.exec(statement))


# --- API tokens --------------------------------------------------------------------------------


def issue_api_token(
    session: Session, user: User, name: str, *, expires_at: datetime | None = None, now: datetime | None = None
) -> tuple[ApiToken, str]:
    """Returns the plaintext once; only its hash is stored, so it cannot be shown again."""
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput("Name the token (at most 100 characters) so you can recognise it later.")
    assert user.id is not None
    expiry = None if expires_at is None else _future_expiry(expires_at, _now(now))
    plaintext = security.new_api_token()
    api_token = ApiToken(user_id=user.id, name=name, token_hash=security.token_hash(plaintext), expires_at=expiry)
    session.add(api_token)
    session.flush()
    return api_token, plaintext


def user_for_api_token(session: Session, token: str, *, record_use: bool, now: datetime | None = None) -> User | None:
    """`record_use`: stamp last_used_at, for a request that changes data (a GET never writes)."""
    found = _with_user(session, ApiToken, token) if token.startswith(security.API_TOKEN_PREFIX) else None
    if found is None:
        return None
    api_token, user = found
    now = _now(now)
    if api_token.revoked_at is not None or not user.is_active or not is_api_token_active(api_token, now):
        return None
    if not record_use:
        return user
    if api_token.last_used_at is None or now - as_utc(api_token.last_used_at) >= _LAST_USED_RESOLUTION:
        api_token.last_used_at = now
        session.add(api_token)
        session.flush()
    return user


def is_api_token_active(api_token: ApiToken, now: datetime | None = None) -> bool:
    expired = api_token.expires_at is not None and as_utc(api_token.expires_at) <= _now(now)
    return api_token.revoked_at is None and not expired


def api_tokens(session: Session, user: User) -> list[ApiToken]:
    """The user's tokens, newest first, revoked and expired ones included (with when they stopped)."""
    return list(session.exec(select(ApiToken).where(ApiToken.user_id == user.id).order_by(col(ApiToken.id).desc())))


def revoke_api_token(session: Session, user: User, token_id: int, *, now: datetime | None = None) -> None:
    """Scoped to the owner: another user's token id answers NotFound, so ids cannot be probed."""
    api_token = session.get(ApiToken, token_id)
    if api_token is None or api_token.user_id != user.id:
        raise NotFound("No such API token.")
    if api_token.revoked_at is None:
        api_token.revoked_at = _now(now)
        session.add(api_token)
        session.flush()


# --- Member links ------------------------------------------------------------------------------


def issue_member_link(
    session: Session,
    participant_id: int,
    *,
    expires_at: datetime | None = None,
    now: datetime | None = None,
) -> str:
    """Reissuing is revoke + issue: a forwarded or lost link stops working the moment a new one exists."""
    now = _now(now)
    if session.get(Participant, participant_id) is None:
        raise NotFound("No such participant.")
    if expires_at is not None:
        expires_at = _future_expiry(expires_at, now)
    revoke_member_links(session, participant_id, now=now)
    plaintext = security.new_member_token()
    session.add(
        MemberLink(
            participant_id=participant_id,
            token_hash=security.token_hash(plaintext),
            created_at=now,
            expires_at=expires_at,
        )
    )
    session.flush()
    return plaintext


def _future_expiry(expires_at: datetime, now: datetime) -> datetime:
    """An expiry of a link or a token: in UTC, in the future and within MAX_EXPIRY. A far date
    (9999-12-31T23:59:59-12:00) is past what a date can hold once it is moved to UTC."""
    try:
        expiry = as_utc(expires_at)
    except OverflowError:
        expiry = None
    if expiry is None or expiry > now + MAX_EXPIRY:
        raise InvalidInput("An expiry date can be at most ten years from now.")
    if expiry <= now:
        raise InvalidInput("This would already have expired; choose a later date.")
    return expiry


def revoke_member_links(session: Session, participant_id: int, *, now: datetime | None = None) -> int:
    """Returns how many links were still active, so the UI can say whether anything changed."""
    now = _now(now)
    active = session.exec(
        select(MemberLink).where(MemberLink.participant_id == participant_id, col(MemberLink.revoked_at).is_(None))
    ).all()
    for link in active:
        link.revoked_at = now
        session.add(link)
    session.flush()
    return len(active)


def link_for_token(session: Session, token: str, now: datetime | None = None) -> tuple[MemberLink, Participant] | None:
    """None for unknown, revoked or expired links, and for participants set inactive by the facilitator."""
    if not token or len(token) > _MAX_TOKEN_LENGTH:
        return None
    statement = (
        select(MemberLink, Participant)
        .join(Participant, col(Participant.id) == col(MemberLink.participant_id))
        .where(MemberLink.token_hash == security.token_hash(token))
    )
    row = session.exec(statement).first()
    if row is None or not _link_holds(row[0], row[1], _now(now)):
        return None
    return row[0], row[1]


def participant_for_token(session: Session, token: str, now: datetime | None = None) -> int | None:
    found = link_for_token(session, token, now)
    return None if found is None else found[0].participant_id


def _link_holds(link: MemberLink, participant: Participant, now: datetime) -> bool:
    expired = link.expires_at is not None and as_utc(link.expires_at) <= now
    return link.revoked_at is None and not expired and participant.active


def member_of_session(
    session: Session,
    participant_id: int,
    *,
    link_id: int | None,
    registration_id: int | None,
    now: datetime | None = None,
) -> Participant | None:
    """A member's session lasts as long as the way in it was opened with: the personal link (not revoked,
    reissued or expired) or the registration with a join code; and while the participant is active. A session
    that names neither (opened before sessions named them) has ended."""
    if link_id is not None:
        statement = (
            select(MemberLink, Participant)
            .join(Participant, col(Participant.id) == col(MemberLink.participant_id))
            .where(MemberLink.id == link_id, MemberLink.participant_id == participant_id)
        )
        row = session.exec(statement).first()
        return row[1] if row is not None and _link_holds(row[0], row[1], _now(now)) else None
    if registration_id is not None:
        registered = (
            select(Participant)
            .join(Registration, col(Registration.participant_id) == col(Participant.id))
            .where(Registration.id == registration_id, Participant.id == participant_id)
        )
        participant = session.exec(registered).first()
        return participant if participant is not None and participant.active else None
    return None


# --- Join codes --------------------------------------------------------------------------------


def open_join_code(
    session: Session,
    round_id: int,
    *,
    created_by: int,
    secret: str,
    ttl: timedelta = DEFAULT_JOIN_CODE_TTL,
    now: datetime | None = None,
) -> tuple[JoinCode, str]:
    """Returns the code as shown ("ABCD-EFGH") once; only its keyed hash is stored."""
    now = _now(now)
    if session.get(Round, round_id) is None:
        raise NotFound("No such round.")
    if ttl <= timedelta(0) or ttl > MAX_JOIN_CODE_TTL:
        raise InvalidInput("A join code is valid for at most 7 days.")
    # code_hash is unique over all codes ever issued; a clash among ~8.5e11 codes is rare but possible.
    for _attempt in range(5):
        code = security.new_join_code()
        code_hash = security.join_code_hash(code, secret)
        if session.exec(select(JoinCode.id).where(JoinCode.code_hash == code_hash)).first() is None:
            break
    else:
        raise Conflict("Could not find an unused join code; please try again.")
    join_code = JoinCode(
        round_id=round_id,
        code_hash=code_hash,
        created_by=created_by,
        created_at=now,
        expires_at=now + ttl,
    )
    session.add(join_code)
    session.flush()
    return join_code, code


def revoke_join_code(session: Session, join_code_id: int, *, now: datetime | None = None) -> JoinCode:
    join_code = session.get(JoinCode, join_code_id)
    if join_code is None:
        raise NotFound("No such join code.")
    if join_code.revoked_at is None:
        join_code.revoked_at = _now(now)
        session.add(join_code)
        session.flush()
    return join_code


def join_codes(session: Session, round_id: int) -> list[JoinCode]:
    statement = select(JoinCode).where(JoinCode.round_id == round_id).order_by(col(JoinCode.id).desc())
    return list(session.exec(statement))


def is_join_code_active(join_code: JoinCode, now: datetime | None = None) -> bool:
    return join_code.revoked_at is None and as_utc(join_code.expires_at) > _now(now)


def round_for_join_code(
    session: Session,
    code: str,
    *,
    secret: str,
    client_ip: str,
    device: str,
    attempts: FailedAttempts,
    now: datetime | None = None,
) -> JoinCode:
    """One answer for unknown, expired and revoked codes: a guesser learns nothing from the difference.
    `device`: the browser's own random id (its session cookie), which its failures are counted by.

    The caller still decides whether the round accepts registrations (e.g. not when it is closed).
    """
    now = _now(now)
    device_bucket, ip_bucket = _bucket("join:device", device), _bucket("join:ip", client_ip)
    check_rate_limit(session, device_bucket, limit=JOIN_CODE_FAILURES_PER_DEVICE, window=JOIN_CODE_WINDOW, now=now)
    check_rate_limit(session, ip_bucket, limit=JOIN_CODE_FAILURES_PER_IP, window=JOIN_CODE_WINDOW, now=now)
    join_code = None
    if security.is_well_formed_join_code(code):
        code_hash = security.join_code_hash(code, secret)
        join_code = session.exec(select(JoinCode).where(JoinCode.code_hash == code_hash)).first()
    if join_code is None or not is_join_code_active(join_code, now):
        attempts.add(device_bucket, ip_bucket, now=now)
        raise NotFound(INVALID_JOIN_CODE)
    code_bucket = _bucket("join:code", str(join_code.id))
    check_rate_limit(session, code_bucket, limit=JOIN_CODE_REGISTRATIONS, window=JOIN_CODE_WINDOW, now=now)
    return join_code


def record_registration(session: Session, join_code: JoinCode, participant_id: int) -> Registration:
    participant = session.get(Participant, participant_id)
    if participant is None:
        raise NotFound("No such participant.")
    round_ = session.get(Round, join_code.round_id)
    if round_ is None or round_.cluster_id != participant.cluster_id:
        raise InvalidInput("This participant belongs to another cluster initiative than the round.")
    existing = session.exec(
        select(Registration).where(
            Registration.join_code_id == join_code.id, Registration.participant_id == participant_id
        )
    ).first()
    if existing is not None:
        return existing
    assert join_code.id is not None
    registration = Registration(join_code_id=join_code.id, participant_id=participant_id)
    session.add(registration)
    # Counted against the code's limit in the registration's own transaction (round_for_join_code checks it).
    session.add(RateLimitHit(bucket=_bucket("join:code", str(join_code.id)), at=utcnow()))
    session.flush()
    return registration


def returning_registrant(
    session: Session, join_code: JoinCode, *, organisation: str, person_name: str
) -> Participant | None:
    """Someone who registered with a join code in this cluster before, under the same name and organisation (a
    second phone, a lost session): they continue as that participant instead of becoming a duplicate. Only
    registrants are matched, never a participant with a personal link, whose way in stays their link."""
    round_ = session.get(Round, join_code.round_id)
    if round_ is None:
        return None
    statement = (
        select(Participant)
        .join(Registration, col(Registration.participant_id) == col(Participant.id))
        .join(JoinCode, col(JoinCode.id) == col(Registration.join_code_id))
        .join(Round, col(Round.id) == col(JoinCode.round_id))
        .where(Round.cluster_id == round_.cluster_id, col(Participant.active))
        .order_by(col(Participant.id))
    )
    wanted = roster.key_of(organisation, person_name)
    return next((p for p in session.exec(statement) if roster.key_of(p.organisation, p.person_name) == wanted), None)


def merge_participants(session: Session, keep: Participant, duplicates: list[Participant], *, actor: str) -> None:
    """Registrations, answers and proposals of the duplicates move to `keep`; the duplicates are deactivated (their
    sessions end). Refused, changing nothing, when two of them answered the same round: which answers count is
    the facilitator's call, made by deactivating one instead."""
    answered = set(session.exec(select(Response.round_id).where(Response.participant_id == keep.id)))
    # Every check before the first change: a caller that shows the refusal must have nothing to roll back.
    for duplicate in duplicates:
        if duplicate.cluster_id != keep.cluster_id or duplicate.id == keep.id:
            raise InvalidInput("Only two different participants of the same cluster initiative can be merged.")
        rounds = set(session.exec(select(Response.round_id).where(Response.participant_id == duplicate.id)))
        if rounds & answered:
            raise Conflict(
                "%(a)s and %(b)s both answered the same round: deactivate the one whose answers should not count.",
                a=keep.person_name or keep.organisation,
                b=duplicate.person_name or duplicate.organisation,
            )
        answered |= rounds
    for duplicate in duplicates:
        session.exec(
            sa_update(Response).where(col(Response.participant_id) == duplicate.id).values(participant_id=keep.id)
        )
        kept_codes = set(session.exec(select(Registration.join_code_id).where(Registration.participant_id == keep.id)))
        for registration in session.exec(select(Registration).where(Registration.participant_id == duplicate.id)):
            if registration.join_code_id in kept_codes:
                session.delete(registration)
            else:
                kept_codes.add(registration.join_code_id)
                registration.participant_id = keep.id or 0
                session.add(registration)
        session.exec(
            sa_update(IndicatorProposal)
            .where(col(IndicatorProposal.participant_id) == duplicate.id)
            .values(participant_id=keep.id)
        )
        duplicate.active = False
        session.add(duplicate)
    audit.record(
        session,
        actor=actor,
        action="participants_merged",
        entity="participant",
        entity_id=keep.id,
        cluster_id=keep.cluster_id,
        before={"participant_ids": [d.id for d in duplicates]},
        after={"into": keep.id},
    )
    session.flush()


def registrations(session: Session, round_id: int) -> list[Registration]:
    statement = (
        select(Registration)
        .join(JoinCode, col(JoinCode.id) == col(Registration.join_code_id))
        .where(JoinCode.round_id == round_id)
        .order_by(col(Registration.id))
    )
    return list(session.exec(statement))


# --- Rate limiting -----------------------------------------------------------------------------


def _bucket(kind: str, value: str) -> str:
    return f"{kind}:{value.strip().lower()[:_BUCKET_VALUE_MAX]}"


def _check_delay(session: Session, bucket: str, *, now: datetime) -> None:
    """Raises TooManyAttempts while the delay that the bucket's failures call for (security.login_delay) has
    not passed since the last of them."""
    failures, last = session.exec(
        select(func.count(col(RateLimitHit.id)), func.max(RateLimitHit.at)).where(
            RateLimitHit.bucket == bucket, col(RateLimitHit.at) > now - LOGIN_WINDOW
        )
    ).one()
    wait = security.login_delay(failures, free=LOGIN_FREE_FAILURES, longest=LOGIN_LONGEST_DELAY)
    if last is None or not wait:
        return
    retry_after = math.ceil((as_utc(last) + wait - now).total_seconds())
    if retry_after > 0:
        raise _too_many(retry_after)


def _too_many(retry_after: int) -> TooManyAttempts:
    if retry_after < 60:
        message = _nl(
            "Too many failed attempts. Try again in %(num)s second.",
            "Too many failed attempts. Try again in %(num)s seconds.",
            retry_after,
        )
    else:
        minutes = math.ceil(retry_after / 60)
        message = _nl(
            "Too many failed attempts. Try again in %(num)s minute.",
            "Too many failed attempts. Try again in %(num)s minutes.",
            minutes,
        )
    return TooManyAttempts(message, retry_after=retry_after)


def check_rate_limit(session: Session, bucket: str, *, limit: int, window: timedelta, now: datetime) -> None:
    """Raises TooManyAttempts once `limit` failures fall inside the window.

    The limit is soft: concurrent failures in different processes may overshoot it by a few,
    which is fine for slowing down guessing and avoids a lock on every login.
    """
    if limit < 1:
        raise ValueError("a rate limit allows at least one attempt")
    if window > RATE_LIMIT_RETENTION:
        raise ValueError(f"rate-limit windows longer than {RATE_LIMIT_RETENTION} would lose pruned hits")
    now = as_utc(now)
    # The limit-th most recent hit inside the window: it exists exactly when the limit is reached,
    # and the moment it leaves the window is when the next attempt is allowed.
    statement = (
        select(RateLimitHit.at)
        .where(RateLimitHit.bucket == bucket, col(RateLimitHit.at) > now - window)
        .order_by(col(RateLimitHit.at).desc())
        .offset(limit - 1)
        .limit(1)
    )
    limiting_hit = session.exec(statement).first()
    if limiting_hit is None:
        return
    raise _too_many(max(1, math.ceil((as_utc(limiting_hit) + window - now).total_seconds())))
