"""Accounts, roles, API tokens, member links, join codes and the rate limits that guard them.

Like every service: takes the request's session, flushes, never commits. The one exception is
the recording of failed attempts (see `hit`), which must survive the rollback of the request.
"""

import math
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_
from sqlmodel import Session, col, select

from app.audit import service as audit
from app.auth import security
from app.auth.models import ROLES, ApiToken, Grant, JoinCode, MemberLink, RateLimitHit, Registration, User
from app.clusters.models import Cluster, Participant, Programme
from app.errors import Conflict, InvalidInput, NotFound, TooManyAttempts, Unauthorized
from app.i18n.translation import _l, _nl
from app.rounds.models import Round
from app.timeutil import as_utc, utcnow

# 10 per email lets a person who forgot which password they used keep trying for a while, and holds
# a guesser to 40 guesses an hour. The IP limit is higher because an agency office or a workshop
# venue puts many honest people behind one address.
LOGIN_WINDOW = timedelta(minutes=15)
LOGIN_FAILURES_PER_EMAIL = 10
LOGIN_FAILURES_PER_IP = 30
# A room full of people typing a code off a projector makes typos; 20 per IP is plenty for that,
# and against ~8.5e11 possible codes a guesser gets nowhere.
JOIN_CODE_WINDOW = timedelta(minutes=15)
JOIN_CODE_FAILURES_PER_IP = 20
# Someone with a stolen session must not be able to guess the current password either.
PASSWORD_CHANGE_WINDOW = timedelta(minutes=15)
PASSWORD_CHANGE_FAILURES = 10
# Hits older than every window are useless and get pruned; windows must not exceed this.
RATE_LIMIT_RETENTION = timedelta(hours=1)
# Bounded, so the opportunistic prune stays cheap even after a long quiet spell or an attack.
_PRUNE_BATCH = 500
# Bucket keys are truncated: nothing longer than an email address can be a real account.
_BUCKET_VALUE_MAX = 254

DEFAULT_JOIN_CODE_TTL = timedelta(hours=4)
# A code is short enough to be guessable in principle; it must not stay valid for weeks.
MAX_JOIN_CODE_TTL = timedelta(days=7)
# last_used_at is for "is this token still used?"; minute precision spares a write on every API call.
_LAST_USED_RESOLUTION = timedelta(minutes=1)
# Longer input cannot be a token we issued; refuse it before hashing or querying.
_MAX_TOKEN_LENGTH = 200

WRONG_LOGIN = _l("Wrong email or password.")
INVALID_JOIN_CODE = _l("This code is not valid (any more).")


def _now(now: datetime | None) -> datetime:
    return utcnow() if now is None else as_utc(now)


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
    now: datetime | None = None,
) -> User:
    """Same answer, and about the same time, for an unknown email and a wrong password.

    On SQLite, call this before the request writes anything: failures are recorded in a
    separate transaction, which would otherwise wait for the request's write lock.
    """
    now = _now(now)
    email = normalise_email(email)
    ip_bucket = _bucket("login:ip", client_ip)
    email_bucket = _bucket("login:email", email)
    # Checked before the password, so a locked-out guesser learns nothing, not even from a right guess.
    check_rate_limit(session, ip_bucket, limit=LOGIN_FAILURES_PER_IP, window=LOGIN_WINDOW, now=now)
    check_rate_limit(session, email_bucket, limit=LOGIN_FAILURES_PER_EMAIL, window=LOGIN_WINDOW, now=now)
    user = user_by_email(session, email)
    if user is None:
        security.verify_password(password, security.dummy_password_hash())
        ok, new_hash = False, None
    else:
        ok, new_hash = security.verify_and_rehash(password, user.password_hash)
    if not ok or user is None:
        _record_hits(session, [ip_bucket, email_bucket], now)
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
    """Moving password_changed_at voids every session issued before, so a reset locks out a thief."""
    _check_password(new)
    user.password_hash = security.hash_password(new)
    user.password_changed_at = _now(now)
    session.add(user)
    session.flush()


def change_password(
    session: Session,
    user: User,
    *,
    current: str,
    new: str,
    now: datetime | None = None,
) -> None:
    """Asks for the current password, so a borrowed, logged-in browser cannot take the account over."""
    now = _now(now)
    bucket = _bucket("password:user", str(user.id))
    check_rate_limit(session, bucket, limit=PASSWORD_CHANGE_FAILURES, window=PASSWORD_CHANGE_WINDOW, now=now)
    if not security.verify_password(current, user.password_hash):
        hit(session, bucket, now)
        raise InvalidInput("The current password is not correct.")
    set_password(session, user, new, now=now)


# --- Roles -------------------------------------------------------------------------------------


def _check_scope(role: str, programme_id: int | None, cluster_id: int | None) -> None:
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
    _check_scope(role, programme_id, cluster_id)
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


def issue_api_token(session: Session, user: User, name: str) -> tuple[ApiToken, str]:
    """Returns the plaintext once; only its hash is stored, so it cannot be shown again."""
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput("Name the token (at most 100 characters) so you can recognise it later.")
    assert user.id is not None
    plaintext = security.new_api_token()
    api_token = ApiToken(user_id=user.id, name=name, token_hash=security.token_hash(plaintext))
    session.add(api_token)
    session.flush()
    return api_token, plaintext


def user_for_api_token(session: Session, token: str, *, now: datetime | None = None) -> User | None:
    if not token.startswith(security.API_TOKEN_PREFIX) or len(token) > _MAX_TOKEN_LENGTH:
        return None
    statement = (
        select(ApiToken, User)
        .join(User, col(User.id) == col(ApiToken.user_id))
        .where(ApiToken.token_hash == security.token_hash(token))
    )
    row = session.exec(statement).first()
    if row is None:
        return None
    api_token, user = row
    if api_token.revoked_at is not None or not user.is_active:
        return None
    now = _now(now)
    if api_token.last_used_at is None or now - as_utc(api_token.last_used_at) >= _LAST_USED_RESOLUTION:
        api_token.last_used_at = now
        session.add(api_token)
        session.flush()
    return user


def api_tokens(session: Session, user: User) -> list[ApiToken]:
    return list(session.exec(select(ApiToken).where(ApiToken.user_id == user.id).order_by(col(ApiToken.id))))


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
    if expires_at is not None and as_utc(expires_at) <= now:
        raise InvalidInput("The link would already have expired; choose a later date.")
    revoke_member_links(session, participant_id, now=now)
    plaintext = security.new_member_token()
    session.add(
        MemberLink(
            participant_id=participant_id,
            token_hash=security.token_hash(plaintext),
            created_at=now,
            expires_at=None if expires_at is None else as_utc(expires_at),
        )
    )
    session.flush()
    return plaintext


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


def participant_for_token(session: Session, token: str, now: datetime | None = None) -> int | None:
    """None for unknown, revoked or expired links, and for participants set inactive by the facilitator."""
    if not token or len(token) > _MAX_TOKEN_LENGTH:
        return None
    statement = (
        select(MemberLink, Participant)
        .join(Participant, col(Participant.id) == col(MemberLink.participant_id))
        .where(MemberLink.token_hash == security.token_hash(token))
    )
    row = session.exec(statement).first()
    if row is None:
        return None
    link, participant = row
    if link.revoked_at is not None or not participant.active:
        return None
    if link.expires_at is not None and as_utc(link.expires_at) <= _now(now):
        return None
    return link.participant_id


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
    now: datetime | None = None,
) -> JoinCode:
    """One answer for unknown, expired and revoked codes: a guesser learns nothing from the difference.

    On SQLite, call this before the request writes anything (see `authenticate`). The caller
    still decides whether the round accepts registrations (e.g. not when it is closed).
    """
    now = _now(now)
    bucket = _bucket("join:ip", client_ip)
    check_rate_limit(session, bucket, limit=JOIN_CODE_FAILURES_PER_IP, window=JOIN_CODE_WINDOW, now=now)
    join_code = None
    if security.is_well_formed_join_code(code):
        code_hash = security.join_code_hash(code, secret)
        join_code = session.exec(select(JoinCode).where(JoinCode.code_hash == code_hash)).first()
    if join_code is None or not is_join_code_active(join_code, now):
        hit(session, bucket, now)
        raise NotFound(INVALID_JOIN_CODE)
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
    session.flush()
    return registration


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
    retry_after = max(1, math.ceil((as_utc(limiting_hit) + window - now).total_seconds()))
    minutes = math.ceil(retry_after / 60)
    raise TooManyAttempts(
        _nl(
            "Too many failed attempts. Try again in %(num)s minute.",
            "Too many failed attempts. Try again in %(num)s minutes.",
            minutes,
        ),
        retry_after=retry_after,
    )


def hit(session: Session, bucket: str, now: datetime) -> None:
    """Records one failure in its own transaction, committed at once.

    The request's transaction is rolled back by the error raised right after a failure; a
    failure recorded there would vanish, and an uncounted failure is a free guess.
    """
    _record_hits(session, [bucket], now)


def _record_hits(session: Session, buckets: Iterable[str], now: datetime) -> None:
    now = as_utc(now)
    if session.get_bind().dialect.name == "sqlite":
        # app.db begins a request that changes data IMMEDIATE, holding SQLite's one write lock; the request
        # has written nothing yet (callers record failures first), so end its transaction or the separate
        # one below would wait for it until busy_timeout.
        session.rollback()
    with Session(session.get_bind()) as own:
        own.add_all([RateLimitHit(bucket=bucket, at=now) for bucket in buckets])
        # Pruning rides along with the write we make anyway. SKIP LOCKED (PostgreSQL; ignored by
        # SQLite, which has one writer at a time) keeps two processes pruning at once from
        # waiting on, or deadlocking over, the same rows.
        stale = (
            select(RateLimitHit.id)
            .where(col(RateLimitHit.at) < now - RATE_LIMIT_RETENTION)
            .limit(_PRUNE_BATCH)
            .with_for_update(skip_locked=True)
        )
        own.exec(delete(RateLimitHit).where(col(RateLimitHit.id).in_(stale)))
        own.commit()
