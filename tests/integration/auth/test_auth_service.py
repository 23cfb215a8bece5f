"""Accounts, roles, tokens, member links, join codes and rate limits, on SQLite and PostgreSQL.

Failed attempts are recorded by the rate limiter in a session of its own once the request's transaction has
ended (`as_request` plays that part), so on SQLite every test commits its set-up before provoking a failure
(an open write would hold the database lock).
"""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from app.audit import service as audit_service
from app.auth import security
from app.auth import service as auth
from app.auth.models import ApiToken, Grant, JoinCode, MemberLink, RateLimitHit, User
from app.clusters.models import Cluster
from app.db import metadata
from app.errors import Conflict, InvalidInput, NotFound, TooManyAttempts, Unauthorized
from app.timeutil import as_utc
from tests import factories

SECRET = "test-secret-key"
PASSWORD = "correct horse battery"
T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


def make_user(session: Session, email: str = "Ana@Example.org") -> User:
    user = auth.create_user(session, email=email, name="Ana", password=PASSWORD)
    session.commit()
    return user


Result = TypeVar("Result")


def as_request(call: Callable[..., Result], session: Session, *args: Any, **kwargs: Any) -> Result:
    """A rate-limited service call as a request makes it: rolled back on an error, then its failures recorded."""
    attempts = auth.FailedAttempts()
    try:
        return call(session, *args, attempts=attempts, **kwargs)
    except Exception:
        session.rollback()
        raise
    finally:
        attempts.record(session.get_bind())


def record_failures(session: Session, *buckets: str, now: datetime) -> None:
    attempts = auth.FailedAttempts()
    attempts.add(*buckets, now=now)
    attempts.record(session.get_bind())


def hit_count(session: Session, bucket: str) -> int:
    return session.exec(select(func.count()).select_from(RateLimitHit).where(RateLimitHit.bucket == bucket)).one()


# --- users and passwords ------------------------------------------------------------------------


def test_create_user_normalises_email_and_stores_only_a_hash(session: Session) -> None:
    user = make_user(session)
    assert user.email == "ana@example.org"
    assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash
    assert not user.is_admin and user.is_active


def test_create_user_refuses_weak_password_bad_email_and_duplicates(session: Session) -> None:
    with pytest.raises(InvalidInput, match="at least 10"):
        auth.create_user(session, email="bo@example.org", name="Bo", password="short")
    with pytest.raises(InvalidInput, match="email"):
        auth.create_user(session, email="not an email", name="Bo", password=PASSWORD)
    make_user(session)
    with pytest.raises(Conflict):
        auth.create_user(session, email=" ANA@example.ORG ", name="Other Ana", password=PASSWORD)


def test_authenticate_succeeds_with_any_email_case(session: Session) -> None:
    user = make_user(session)
    found = as_request(
        auth.authenticate, session, email=" ANA@example.org", password=PASSWORD, client_ip="10.0.0.1", now=T0
    )
    assert found.id == user.id


def test_wrong_password_and_unknown_email_get_the_same_answer(session: Session) -> None:
    make_user(session)
    with pytest.raises(Unauthorized) as wrong_password:
        as_request(
            auth.authenticate, session, email="ana@example.org", password="not the password", client_ip="10.0.0.1"
        )
    with pytest.raises(Unauthorized) as unknown_email:
        as_request(auth.authenticate, session, email="nobody@example.org", password=PASSWORD, client_ip="10.0.0.1")
    assert wrong_password.value.message == unknown_email.value.message == "Wrong email or password."
    assert wrong_password.value.status_code == 401
    # Both failures survived the rollbacks.
    assert hit_count(session, "login:ip:10.0.0.1") == 2
    assert hit_count(session, "login:account:ana@example.org") == 1
    assert hit_count(session, "login:account:nobody@example.org") == 1
    assert hit_count(session, "login:pair:10.0.0.1 ana@example.org") == 1


def test_deactivated_account_cannot_log_in(session: Session) -> None:
    user = make_user(session)
    user.is_active = False
    session.add(user)
    session.commit()
    with pytest.raises(Unauthorized, match="deactivated"):
        as_request(auth.authenticate, session, email="ana@example.org", password=PASSWORD, client_ip="10.0.0.1")


def test_login_upgrades_a_hash_made_with_weaker_parameters(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    user = make_user(session)
    old_hash = user.password_hash
    monkeypatch.setattr(
        security, "_password_hash", PasswordHash((Argon2Hasher(time_cost=2, memory_cost=2048, parallelism=1),))
    )
    as_request(auth.authenticate, session, email="ana@example.org", password=PASSWORD, client_ip="10.0.0.1")
    session.commit()
    session.refresh(user)
    assert user.password_hash != old_hash and "t=2" in user.password_hash
    assert security.verify_password(PASSWORD, user.password_hash)


def test_the_account_ceiling_holds_off_spread_guessers_but_not_the_owners_browser(session: Session) -> None:
    """Guesses from many addresses, none of them delayed on its own: past LOGIN_FAILURES_PER_ACCOUNT even the
    right password waits, from any browser that never logged into the account; the owner's browser does not."""
    make_user(session)
    for i in range(auth.LOGIN_FAILURES_PER_ACCOUNT):
        with pytest.raises(Unauthorized):
            as_request(
                auth.authenticate,
                session,
                email="ana@example.org",
                password="wrong guess",
                client_ip=f"10.0.1.{i}",
                now=T0,
            )
    with pytest.raises(TooManyAttempts) as blocked:
        as_request(auth.authenticate, session, email="ana@example.org", password=PASSWORD, client_ip="10.0.2.1", now=T0)
    assert blocked.value.status_code == 429
    assert blocked.value.message == "Too many failed attempts. Try again in 60 minutes."
    assert blocked.value.retry_after == 60 * 60
    # Blocked attempts are not counted, or the hold would never end.
    assert hit_count(session, "login:account:ana@example.org") == auth.LOGIN_FAILURES_PER_ACCOUNT
    # The owner's browser (its device cookie) is counted on its own.
    assert as_request(
        auth.authenticate,
        session,
        email="ana@example.org",
        password=PASSWORD,
        client_ip="10.0.2.1",
        device="owners-laptop",
        now=T0,
    )
    # Another account from the same addresses is unaffected.
    make_user(session, email="bo@example.org")
    as_request(auth.authenticate, session, email="bo@example.org", password=PASSWORD, client_ip="10.0.1.0", now=T0)
    # Nearly over: the message counts down.
    with pytest.raises(TooManyAttempts, match="Try again in 30 seconds\\."):
        as_request(
            auth.authenticate,
            session,
            email="ana@example.org",
            password=PASSWORD,
            client_ip="10.0.2.1",
            now=T0 + auth.LOGIN_WINDOW - timedelta(seconds=30),
        )
    later = T0 + auth.LOGIN_WINDOW + timedelta(seconds=1)
    assert as_request(
        auth.authenticate, session, email="ana@example.org", password=PASSWORD, client_ip="10.0.2.1", now=later
    )


def test_ip_rate_limit_covers_failures_across_emails(session: Session) -> None:
    make_user(session)
    for i in range(auth.LOGIN_FAILURES_PER_IP):
        with pytest.raises(Unauthorized):
            as_request(
                auth.authenticate,
                session,
                email=f"guess{i}@example.org",
                password="wrong guess",
                client_ip="203.0.113.9",
                now=T0,
            )
    with pytest.raises(TooManyAttempts):
        as_request(
            auth.authenticate, session, email="ana@example.org", password=PASSWORD, client_ip="203.0.113.9", now=T0
        )
    assert as_request(
        auth.authenticate, session, email="ana@example.org", password=PASSWORD, client_ip="198.51.100.7", now=T0
    )


def test_old_hits_are_pruned_when_new_ones_are_recorded(session: Session) -> None:
    for _ in range(3):
        record_failures(session, "login:ip:192.0.2.1", now=T0)
    record_failures(session, "login:ip:192.0.2.2", now=T0 + auth.RATE_LIMIT_RETENTION + timedelta(seconds=1))
    assert hit_count(session, "login:ip:192.0.2.1") == 0
    assert hit_count(session, "login:ip:192.0.2.2") == 1


def test_check_rate_limit_counts_only_the_window(session: Session) -> None:
    window = timedelta(minutes=15)
    for minutes in (0, 5, 10):
        record_failures(session, "x", now=T0 + timedelta(minutes=minutes))
    auth.check_rate_limit(session, "x", limit=4, window=window, now=T0 + timedelta(minutes=10))
    with pytest.raises(TooManyAttempts) as blocked:
        auth.check_rate_limit(session, "x", limit=3, window=window, now=T0 + timedelta(minutes=10))
    assert blocked.value.retry_after == 5 * 60  # when the hit at minute 0 leaves the window
    auth.check_rate_limit(session, "x", limit=3, window=window, now=T0 + timedelta(minutes=15))
    with pytest.raises(ValueError):
        auth.check_rate_limit(session, "x", limit=3, window=timedelta(days=1), now=T0)


def test_change_password(session: Session) -> None:
    user = make_user(session)
    before = user.password_changed_at
    with pytest.raises(InvalidInput, match="current password"):
        as_request(auth.change_password, session, user, current="not the password", new="a brand new passphrase")
    with pytest.raises(InvalidInput, match="at least 10"):
        as_request(auth.change_password, session, user, current=PASSWORD, new="short")
    as_request(
        auth.change_password,
        session,
        user,
        current=PASSWORD,
        new="a brand new passphrase",
        now=T0 + timedelta(days=400),
    )
    session.commit()
    assert as_utc(user.password_changed_at) > as_utc(before)
    assert as_request(
        auth.authenticate, session, email="ana@example.org", password="a brand new passphrase", client_ip="10.0.0.1"
    )
    with pytest.raises(Unauthorized):
        as_request(auth.authenticate, session, email="ana@example.org", password=PASSWORD, client_ip="10.0.0.1")


# --- roles -------------------------------------------------------------------------------------


def test_grant_and_revoke_roles_with_audit_trail(session: Session) -> None:
    user = make_user(session)
    cluster = factories.cluster(session)
    other_cluster = factories.cluster(session)
    agency = auth.grant(session, user, role="agency", programme_id=cluster.programme_id, actor="admin@example.org")
    facilitator = auth.grant(session, user, role="facilitator", cluster_id=other_cluster.id, actor="admin@example.org")
    again = auth.grant(session, user, role="facilitator", cluster_id=other_cluster.id, actor="admin@example.org")
    session.commit()
    assert again.id == facilitator.id
    assert [g.id for g in auth.grants_of(session, user)] == [agency.id, facilitator.id]
    assert cluster.id is not None and other_cluster.id is not None
    assert auth.roles_for_cluster(session, user, cluster.id) == {"agency"}
    assert auth.roles_for_cluster(session, user, other_cluster.id) == {"facilitator"}

    auth.revoke_grant(session, user, role="facilitator", cluster_id=other_cluster.id, actor="admin@example.org")
    session.commit()
    assert auth.roles_for_cluster(session, user, other_cluster.id) == set()
    with pytest.raises(NotFound):
        auth.revoke_grant(session, user, role="facilitator", cluster_id=other_cluster.id, actor="admin@example.org")

    assert user.id is not None
    events = audit_service.history(session, entity="user", entity_id=user.id)
    assert [(e.action, e.actor) for e in events] == [
        ("grant_role", "admin@example.org"),
        ("grant_role", "admin@example.org"),
        ("revoke_role", "admin@example.org"),
    ]
    assert events[1].after == {"role": "facilitator", "programme_id": None, "cluster_id": other_cluster.id}
    assert events[2].before == events[1].after and events[2].after is None


@pytest.mark.parametrize(
    ("role", "scope"),
    [
        ("agency", "cluster"),
        ("facilitator", "programme"),
        ("observer", "both"),
        ("observer", "neither"),
        ("owner", "cluster"),
    ],
)
def test_grant_refuses_a_role_at_the_wrong_scope(session: Session, role: str, scope: str) -> None:
    user = make_user(session)
    cluster = factories.cluster(session)
    programme_id = cluster.programme_id if scope in ("programme", "both") else None
    cluster_id = cluster.id if scope in ("cluster", "both") else None
    with pytest.raises(InvalidInput):
        auth.grant(session, user, role=role, programme_id=programme_id, cluster_id=cluster_id, actor="admin")


def test_observer_may_have_either_scope_and_unknown_targets_are_not_found(session: Session) -> None:
    user = make_user(session)
    cluster = factories.cluster(session)
    auth.grant(session, user, role="observer", programme_id=cluster.programme_id, actor="admin")
    auth.grant(session, user, role="observer", cluster_id=cluster.id, actor="admin")
    with pytest.raises(NotFound):
        auth.grant(session, user, role="observer", cluster_id=999_999, actor="admin")


def test_database_refuses_duplicate_and_mis_scoped_grants(session: Session) -> None:
    user = make_user(session)
    cluster = factories.cluster(session)
    session.commit()
    assert user.id is not None
    session.add(Grant(user_id=user.id, role="facilitator", cluster_id=cluster.id))
    session.add(Grant(user_id=user.id, role="facilitator", cluster_id=cluster.id))
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()
    session.add(Grant(user_id=user.id, role="agency", cluster_id=cluster.id))
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()


# --- API tokens --------------------------------------------------------------------------------


def test_api_token_lookup_and_revocation(session: Session) -> None:
    user = make_user(session)
    other = make_user(session, email="bo@example.org")
    api_token, plaintext = auth.issue_api_token(session, user, "nightly export")
    session.commit()
    assert plaintext.startswith("cs_") and api_token.token_hash == security.token_hash(plaintext)

    found = auth.user_for_api_token(session, plaintext, record_use=False, now=T0)
    assert found is not None and found.id == user.id
    assert api_token.last_used_at is None  # a read writes nothing
    assert auth.user_for_api_token(session, plaintext, record_use=True, now=T0) == found
    assert api_token.last_used_at is not None and as_utc(api_token.last_used_at) == T0
    assert auth.user_for_api_token(session, plaintext + "x", record_use=True) is None
    assert auth.user_for_api_token(session, "no prefix", record_use=True) is None

    assert api_token.id is not None
    with pytest.raises(NotFound):
        auth.revoke_api_token(session, other, api_token.id)
    auth.revoke_api_token(session, user, api_token.id)
    session.commit()
    assert auth.user_for_api_token(session, plaintext, record_use=False) is None
    assert [t.id for t in auth.api_tokens(session, user)] == [api_token.id]


def test_api_token_of_a_deactivated_user_is_refused(session: Session) -> None:
    user = make_user(session)
    _, plaintext = auth.issue_api_token(session, user, "script")
    user.is_active = False
    session.add(user)
    session.commit()
    assert auth.user_for_api_token(session, plaintext, record_use=False) is None


# --- member links ------------------------------------------------------------------------------


def test_member_link_issue_lookup_reissue_and_revoke(session: Session) -> None:
    cluster = factories.cluster(session)
    member = factories.participant(session, cluster)
    assert member.id is not None
    first = auth.issue_member_link(session, member.id)
    session.commit()
    assert auth.participant_for_token(session, first) == member.id
    assert auth.participant_for_token(session, first[:-1]) is None
    assert auth.participant_for_token(session, "") is None

    second = auth.issue_member_link(session, member.id)  # reissue: the old link stops working
    session.commit()
    assert auth.participant_for_token(session, first) is None
    assert auth.participant_for_token(session, second) == member.id

    assert auth.revoke_member_links(session, member.id) == 1
    session.commit()
    assert auth.participant_for_token(session, second) is None
    assert auth.revoke_member_links(session, member.id) == 0
    with pytest.raises(NotFound):
        auth.issue_member_link(session, 999_999)


def test_member_link_expiry_and_inactive_member(session: Session) -> None:
    cluster = factories.cluster(session)
    member = factories.participant(session, cluster)
    assert member.id is not None
    with pytest.raises(InvalidInput):
        auth.issue_member_link(session, member.id, expires_at=T0, now=T0 + timedelta(seconds=1))
    token = auth.issue_member_link(session, member.id, expires_at=T0 + timedelta(days=30), now=T0)
    session.commit()
    assert auth.participant_for_token(session, token, now=T0 + timedelta(days=29)) == member.id
    assert auth.participant_for_token(session, token, now=T0 + timedelta(days=30)) is None
    member.active = False
    session.add(member)
    session.commit()
    assert auth.participant_for_token(session, token, now=T0) is None


# --- join codes --------------------------------------------------------------------------------


def _round_with_code(session: Session, ttl: timedelta = auth.DEFAULT_JOIN_CODE_TTL) -> tuple[User, int, JoinCode, str]:
    facilitator = make_user(session, email="fac@example.org")
    cluster = factories.cluster(session)
    round_ = factories.open_round(session, cluster)
    assert facilitator.id is not None and round_.id is not None and cluster.id is not None
    join_code, code = auth.open_join_code(session, round_.id, created_by=facilitator.id, secret=SECRET, ttl=ttl, now=T0)
    session.commit()
    return facilitator, cluster.id, join_code, code


def test_join_code_is_found_however_it_is_typed(session: Session) -> None:
    _, _, join_code, code = _round_with_code(session)
    assert len(code) == 9 and code[4] == "-"
    typed = f"{code[:4].lower()} {code[5:].lower()}"
    found = as_request(
        auth.round_for_join_code, session, typed, secret=SECRET, client_ip="10.0.0.1", device="d1", now=T0
    )
    assert found.id == join_code.id
    assert as_utc(join_code.expires_at) == T0 + timedelta(hours=4)


def test_expired_revoked_unknown_and_malformed_codes_are_not_valid(session: Session) -> None:
    _, _, join_code, code = _round_with_code(session)
    attempts = [
        (code, T0 + timedelta(hours=4)),  # expired
        ("ABCD-EFGH" if code != "ABCD-EFGH" else "ABCD-EFGJ", T0),  # unknown
        ("not a code", T0),  # malformed
    ]
    for typed, now in attempts:
        with pytest.raises(NotFound) as invalid:
            as_request(
                auth.round_for_join_code, session, typed, secret=SECRET, client_ip="10.0.0.1", device="d1", now=now
            )
        assert invalid.value.message == "This code is not valid (any more)."
    with pytest.raises(NotFound):  # the key is part of the hash
        as_request(
            auth.round_for_join_code, session, code, secret="another-secret", client_ip="10.0.0.1", device="d1", now=T0
        )
    assert join_code.id is not None
    auth.revoke_join_code(session, join_code.id, now=T0)
    session.commit()
    with pytest.raises(NotFound):
        as_request(auth.round_for_join_code, session, code, secret=SECRET, client_ip="10.0.0.1", device="d1", now=T0)
    assert hit_count(session, "join:ip:10.0.0.1") == hit_count(session, "join:device:d1") == 5


def test_join_code_ttl_is_bounded(session: Session) -> None:
    with pytest.raises(InvalidInput):
        _round_with_code(session, ttl=timedelta(days=8))


def test_join_code_guessing_is_limited_per_device_not_per_room(session: Session) -> None:
    """One phone guessing is held off; the rest of the room, behind the same address, is not."""
    _, _, _, code = _round_with_code(session)
    wrong = "ABCD-EFGH" if code != "ABCD-EFGH" else "ABCD-EFGJ"
    for _ in range(auth.JOIN_CODE_FAILURES_PER_DEVICE):
        with pytest.raises(NotFound):
            as_request(
                auth.round_for_join_code, session, wrong, secret=SECRET, client_ip="10.9.9.9", device="guesser", now=T0
            )
    with pytest.raises(TooManyAttempts):
        as_request(
            auth.round_for_join_code, session, code, secret=SECRET, client_ip="10.9.9.9", device="guesser", now=T0
        )
    assert as_request(
        auth.round_for_join_code, session, code, secret=SECRET, client_ip="10.9.9.9", device="neighbour", now=T0
    )


def test_registrations_through_a_join_code(session: Session) -> None:
    _, cluster_id, join_code, _ = _round_with_code(session)
    cluster = factories.cluster(session)
    outsider = factories.participant(session, cluster)
    own_cluster = session.get(Cluster, cluster_id)
    assert own_cluster is not None
    newcomer = factories.participant(session, own_cluster, organisation="Walk-in Ltd")
    assert newcomer.id is not None and outsider.id is not None
    registration = auth.record_registration(session, join_code, newcomer.id)
    assert auth.record_registration(session, join_code, newcomer.id).id == registration.id
    with pytest.raises(InvalidInput):
        auth.record_registration(session, join_code, outsider.id)
    session.commit()
    assert [r.participant_id for r in auth.registrations(session, join_code.round_id)] == [newcomer.id]
    assert [c.id for c in auth.join_codes(session, join_code.round_id)] == [join_code.id]


# --- secrets at rest ---------------------------------------------------------------------------


def test_plaintext_secrets_are_not_stored_anywhere(session: Session) -> None:
    user = make_user(session)
    cluster = factories.cluster(session)
    member = factories.participant(session, cluster)
    round_ = factories.open_round(session, cluster)
    assert member.id is not None and round_.id is not None and user.id is not None
    _, api_plaintext = auth.issue_api_token(session, user, "script")
    member_plaintext = auth.issue_member_link(session, member.id)
    _, code = auth.open_join_code(session, round_.id, created_by=user.id, secret=SECRET)
    session.commit()
    secrets_ = [
        PASSWORD,
        api_plaintext,
        api_plaintext.removeprefix("cs_"),
        member_plaintext,
        code,
        code.replace("-", ""),
    ]
    connection = session.connection()
    stored = [
        str(value)
        for table in metadata.sorted_tables
        for row in connection.execute(sa_select(table))
        for value in row
        if value is not None
    ]
    assert stored, "expected some rows"
    for secret in secrets_:
        assert not [value for value in stored if secret in value], f"{secret!r} stored in clear"
    assert session.exec(select(col(MemberLink.token_hash))).one() == security.token_hash(member_plaintext)
    assert session.exec(select(col(ApiToken.token_hash))).one() == security.token_hash(api_plaintext)
