"""Rate limits that hurt a guesser, not the owner nor a room full of people: over HTTP, as the browser meets them."""

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from app.auth import service as auth_service
from app.auth.models import RateLimitHit
from app.config import Settings
from app.main import create_app
from app.timeutil import utcnow
from tests import factories

WRONG = "not the password at all"


def _csrf(client: TestClient) -> str:
    token: str = client.get("/api/v1/me").json()["csrf_token"]
    return token


def _login(client: TestClient, email: str, password: str, **headers: str) -> int:
    form = {"email": email, "password": password, "csrf_token": _csrf(client)}
    return client.post("/login", data=form, headers=headers, follow_redirects=False).status_code


def _buckets(session: Session, prefix: str) -> set[str]:
    session.commit()  # a fresh read
    return set(session.exec(select(RateLimitHit.bucket).where(col(RateLimitHit.bucket).startswith(prefix))))


@pytest.fixture
def behind_proxy(settings: Settings) -> Iterator[FastAPI]:
    """The app behind a trusted reverse proxy (the test client's address): X-Forwarded-For names the client."""
    proxied = create_app(settings.model_copy(update={"forwarded_allow_ips": "testclient"}))
    with TestClient(proxied):
        yield proxied


def test_a_guesser_elsewhere_does_not_lock_the_owner_out(behind_proxy: FastAPI, session: Session) -> None:
    """Ten wrong passwords used to lock the account for 15 minutes from anywhere. Now the guesser's address is
    held off for this account, and the owner, at another address, logs in at once."""
    user = factories.user(session)
    session.commit()
    guesser, owner = TestClient(behind_proxy), TestClient(behind_proxy)
    statuses = [_login(guesser, user.email, WRONG, **{"X-Forwarded-For": "203.0.113.66"}) for _ in range(10)]
    assert statuses[:5] == [401] * 5 and 429 in statuses
    assert _login(guesser, user.email, factories.PASSWORD, **{"X-Forwarded-For": "203.0.113.66"}) == 429
    assert _login(owner, user.email, factories.PASSWORD, **{"X-Forwarded-For": "198.51.100.7"}) == 303


def test_the_owners_browser_gets_in_beside_a_guesser_at_the_same_address(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    """Same office, same address: the owner's browser, which logged in before (its device cookie), is counted
    on its own, so the guesser's failures hold off only the guesser."""
    user = factories.user(session)
    session.commit()
    owner = TestClient(app)
    assert _login(owner, user.email, factories.PASSWORD) == 303
    assert owner.cookies.get("clusterscore_device")
    owner.post("/logout", data={"csrf_token": _csrf(owner)})
    guesser = TestClient(app)
    for _ in range(auth_service.LOGIN_FREE_FAILURES):
        assert _login(guesser, user.email, WRONG) == 401
    session.add_all(RateLimitHit(bucket=f"login:pair:testclient {user.email}", at=utcnow()) for _ in range(5))
    session.commit()
    assert _login(guesser, user.email, factories.PASSWORD) == 429
    assert _login(owner, user.email, factories.PASSWORD) == 303
    # The device cookie is bound to its account: copied to another one's login, it is a stranger's browser.
    other = factories.user(session)
    session.commit()
    borrowed = TestClient(app)
    borrowed.cookies.set("clusterscore_device", owner.cookies.get("clusterscore_device") or "")
    assert _login(borrowed, other.email, WRONG) == 401
    assert f"login:pair:testclient {other.email}" in _buckets(session, "login:pair:")


def test_proxy_headers_are_believed_only_from_forwarded_allow_ips(
    app: FastAPI, client: TestClient, behind_proxy: FastAPI, session: Session
) -> None:
    """By default (FORWARDED_ALLOW_IPS empty) an X-Forwarded-For header names no one: every failure counts
    against the address that connected, whatever the header says."""
    user = factories.user(session)
    session.commit()
    for i in range(3):
        assert _login(TestClient(app), user.email, WRONG, **{"X-Forwarded-For": f"192.0.2.{i}"}) == 401
    assert _buckets(session, "login:ip:") == {"login:ip:testclient"}
    for i in range(2):
        assert _login(TestClient(behind_proxy), user.email, WRONG, **{"X-Forwarded-For": f"192.0.2.{i}"}) == 401
    assert _buckets(session, "login:ip:") == {"login:ip:testclient", "login:ip:192.0.2.0", "login:ip:192.0.2.1"}


def test_a_room_behind_one_address_is_not_blocked(app: FastAPI, admin_client: TestClient, session: Session) -> None:
    """Twenty wrong codes from a venue's shared address used to block the whole room. Twenty-five phones, each
    mistyping once, all register; one phone that keeps guessing is held off, and its page says for how long."""
    cluster = factories.cluster(session)
    round_ = factories.open_round(session, cluster)
    session.commit()
    code = admin_client.post(f"/api/v1/rounds/{round_.id}/join-codes").json()["code"]
    wrong = "ABCD-EFGH" if code != "ABCD-EFGH" else "ABCD-EFGJ"

    def join(phone: TestClient, typed: str, name: str = "Somsak") -> int:
        # Each phone is another person: the same name and organisation again is the same participant.
        form = {"code": typed, "person_name": name, "organisation": "Stall", "csrf_token": _csrf(phone)}
        return phone.post("/join", data=form, follow_redirects=False).status_code

    for i in range(25):
        phone = TestClient(app)
        assert join(phone, wrong) == 404
        assert join(phone, code, name=f"Member {i}") == 303
    assert len(admin_client.get(f"/api/v1/rounds/{round_.id}/registrations").json()) == 25
    guesser = TestClient(app)
    for _ in range(auth_service.JOIN_CODE_FAILURES_PER_DEVICE):
        assert join(guesser, wrong) == 404
    form = {"code": code, "person_name": "G", "organisation": "G", "csrf_token": _csrf(guesser)}
    held = guesser.post("/join", data=form)
    assert held.status_code == 429 and int(held.headers["Retry-After"]) > 0 and "Try again in" in held.text
    assert join(TestClient(app), code) == 303  # the next phone in the room


def test_a_code_registers_only_so_many_people_at_once(admin_client: TestClient, session: Session) -> None:
    cluster = factories.cluster(session)
    round_ = factories.open_round(session, cluster)
    session.commit()
    issued = admin_client.post(f"/api/v1/rounds/{round_.id}/join-codes").json()
    session.add_all(
        RateLimitHit(bucket=f"join:code:{issued['id']}", at=utcnow())
        for _ in range(auth_service.JOIN_CODE_REGISTRATIONS)
    )
    session.commit()
    phone = TestClient(admin_client.app)
    form = {"code": issued["code"], "person_name": "One more", "organisation": "Org", "csrf_token": _csrf(phone)}
    assert phone.post("/join", data=form, follow_redirects=False).status_code == 429
