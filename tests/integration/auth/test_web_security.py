"""What a browser meets: login sessions, CSRF, security headers, member links and join codes over HTTP."""

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.auth import service as auth_service
from app.auth.models import MemberLink, RateLimitHit
from app.timeutil import utcnow
from tests import factories


def _csrf(client: TestClient) -> str:
    token: str = client.get("/api/v1/me").json()["csrf_token"]
    return token


def _login(client: TestClient, email: str, password: str = factories.PASSWORD) -> int:
    form = {"email": email, "password": password, "csrf_token": _csrf(client)}
    return client.post("/login", data=form, follow_redirects=False).status_code


def test_login_session_and_logout(client: TestClient, session: Session) -> None:
    user = factories.user(session, is_admin=True)
    session.commit()
    assert _login(client, user.email) == 303
    me = client.get("/api/v1/me").json()
    assert me["kind"] == "user" and me["is_admin"]
    cookie = client.cookies.get("clusterscore_session")
    assert cookie
    assert client.post("/logout", data={"csrf_token": _csrf(client)}, follow_redirects=False).status_code == 303
    assert client.get("/api/v1/me").json()["kind"] == "anonymous"


def test_session_cookie_flags(client: TestClient) -> None:
    response = client.get("/login")
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie


def test_state_change_without_csrf_token_is_refused_and_changes_nothing(client: TestClient, session: Session) -> None:
    user = factories.user(session, is_admin=True)
    session.commit()
    assert _login(client, user.email) == 303
    refused = client.post("/api/v1/programmes", json={"name": "Forged"})
    assert refused.status_code == 403
    forged = client.post("/api/v1/programmes", json={"name": "Forged"}, headers={"X-CSRF-Token": "guess"})
    assert forged.status_code == 403
    assert client.get("/api/v1/programmes").json() == []
    ok = client.post("/api/v1/programmes", json={"name": "Real"}, headers={"X-CSRF-Token": _csrf(client)})
    assert ok.status_code == 201


def test_security_headers(client: TestClient) -> None:
    headers = client.get("/login").headers
    csp = headers["content-security-policy"]
    # Every script is the app's own (static/vendor), so nothing else may run.
    assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"


def test_login_attempts_are_rate_limited(client: TestClient, session: Session) -> None:
    """From one address, five failures are free; after ten, each attempt waits 32 s, the right password too,
    and the HTML page says how long (Retry-After)."""
    user = factories.user(session)
    session.commit()
    statuses = [_login(client, user.email, "wrong password!") for _ in range(auth_service.LOGIN_FREE_FAILURES)]
    assert statuses == [401] * auth_service.LOGIN_FREE_FAILURES
    # Five more, as a guesser who waited each delay out would have made them (faster than waiting here).
    session.add_all(RateLimitHit(bucket=f"login:pair:testclient {user.email}", at=utcnow()) for _ in range(5))
    session.commit()
    form = {"email": user.email, "password": factories.PASSWORD, "csrf_token": _csrf(client)}
    held = client.post("/login", data=form)
    assert held.status_code == 429 and "Try again in" in held.text
    assert 30 <= int(held.headers["Retry-After"]) <= 32


def test_password_change_ends_other_sessions(app: FastAPI, client: TestClient, session: Session) -> None:
    user = factories.user(session, grants=())
    session.commit()
    other_device = TestClient(app)
    assert _login(client, user.email) == 303 and _login(other_device, user.email) == 303
    new = "a completely new passphrase"
    form = {"current": factories.PASSWORD, "new": new, "csrf_token": _csrf(client)}
    assert client.post("/account/password", data=form).status_code == 200
    assert client.get("/api/v1/me").json()["kind"] == "user"
    assert other_device.get("/api/v1/me").json()["kind"] == "anonymous"


def test_member_link_revoked_and_reissued(app: FastAPI, admin_client: TestClient, session: Session) -> None:
    cluster = factories.cluster(session)
    member = factories.participant(session, cluster)
    session.commit()
    issued = admin_client.post(f"/api/v1/participants/{member.id}/link", json={}).json()
    token = issued["url"].rsplit("/m/", 1)[1]
    assert issued["qr_svg"].startswith("data:image/svg+xml")
    assert token not in {link.token_hash for link in session.exec(select(MemberLink))}

    phone = TestClient(app)
    assert phone.get(f"/m/{token}", follow_redirects=False).status_code == 303
    assert phone.get("/api/v1/me").json()["kind"] == "member"
    assert phone.get(f"/api/v1/clusters/{cluster.id}").status_code == 200

    reissued = admin_client.post(f"/api/v1/participants/{member.id}/link", json={}).json()
    assert reissued["url"] != issued["url"]
    assert TestClient(app).get(f"/m/{token}", follow_redirects=False).status_code == 404
    assert admin_client.delete(f"/api/v1/participants/{member.id}/link").status_code == 204
    new_token = reissued["url"].rsplit("/m/", 1)[1]
    assert TestClient(app).get(f"/m/{new_token}", follow_redirects=False).status_code == 404


def test_join_code_registers_a_participant_the_facilitator_sees(
    app: FastAPI, admin_client: TestClient, session: Session
) -> None:
    cluster = factories.cluster(session)
    round_ = factories.open_round(session, cluster)
    session.commit()
    code = admin_client.post(f"/api/v1/rounds/{round_.id}/join-codes").json()["code"]

    room = TestClient(app)
    form = {
        "code": code.lower().replace("-", " "),
        "person_name": "Somchai",
        "organisation": "Lanna Foods",
        "csrf_token": _csrf(room),
    }
    assert room.post("/join", data=form, follow_redirects=False).status_code == 303
    assert room.get("/api/v1/me").json()["kind"] == "member"

    registrations = admin_client.get(f"/api/v1/rounds/{round_.id}/registrations").json()
    assert [(r["person_name"], r["organisation"]) for r in registrations] == [("Somchai", "Lanna Foods")]
    removed = admin_client.delete(f"/api/v1/rounds/{round_.id}/registrations/{registrations[0]['participant_id']}")
    assert removed.status_code == 204
    assert admin_client.get(f"/api/v1/rounds/{round_.id}/registrations").json()[0]["active"] is False
    assert room.get("/api/v1/me").json()["kind"] == "anonymous", "a removed registration can no longer answer"

    code_id = admin_client.get(f"/api/v1/rounds/{round_.id}/join-codes").json()[0]["id"]
    assert admin_client.delete(f"/api/v1/rounds/{round_.id}/join-codes/{code_id}").status_code == 204
    late = TestClient(app)
    form = {**form, "csrf_token": _csrf(late)}
    refused = late.post("/join", data=form, follow_redirects=False)
    assert refused.status_code == 404
    assert re.search(r"not valid", refused.text)


def test_expired_join_code_is_refused(app: FastAPI, session: Session, client: TestClient) -> None:
    from datetime import timedelta

    from app.timeutil import utcnow

    cluster = factories.cluster(session)
    round_ = factories.open_round(session, cluster)
    admin = factories.user(session, is_admin=True)
    _code_row, code = auth_service.open_join_code(
        session,
        round_.id or 0,
        created_by=admin.id or 0,
        secret=app.state.settings.secret_key,
        now=utcnow() - timedelta(hours=5),
    )
    session.commit()
    form = {"code": code, "person_name": "Late", "organisation": "Late Ltd", "csrf_token": _csrf(client)}
    assert client.post("/join", data=form, follow_redirects=False).status_code == 404
