"""Sessions that really end: each way out is tried by replaying the cookie (or token) from before it, which must
then open nothing; and a logged-in staff browser is never turned into a member's without asking."""

from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.auth import service as auth_service
from app.clusters.models import Cluster, Participant
from app.rounds.models import Round
from tests import factories

COOKIE = "clusterscore_session"


def _csrf(client: TestClient) -> str:
    token: str = client.get("/api/v1/me").json()["csrf_token"]
    return token


def _logged_in(app: FastAPI, email: str, password: str = factories.PASSWORD) -> TestClient:
    client = TestClient(app)
    form = {"email": email, "password": password, "csrf_token": _csrf(client)}
    assert client.post("/login", data=form, follow_redirects=False).status_code == 303
    assert client.get("/api/v1/me").json()["kind"] == "user"
    return client


def _replay(app: FastAPI, cookie: str | None) -> TestClient:
    """A new browser carrying a copied cookie."""
    assert cookie
    client = TestClient(app)
    client.cookies.set(COOKIE, cookie)
    return client


def _kind(client: TestClient) -> str:
    kind: str = client.get("/api/v1/me").json()["kind"]
    return kind


def _member_world(session: Session) -> tuple[Cluster, Round, Participant]:
    cluster = factories.cluster(session)
    round_ = factories.open_round(session, cluster)
    member = factories.participant(session, cluster)
    session.commit()
    return cluster, round_, member


def test_logout_ends_the_session_on_the_server(app: FastAPI, client: TestClient, session: Session) -> None:
    user = factories.user(session, is_admin=True)
    session.commit()
    browser = _logged_in(app, user.email)
    copied = browser.cookies.get(COOKIE)
    assert _kind(_replay(app, copied)) == "user"  # a copy works while the session lives
    assert browser.post("/logout", data={"csrf_token": _csrf(browser)}, follow_redirects=False).status_code == 303
    replayed = _replay(app, copied)
    assert _kind(replayed) == "anonymous"
    assert replayed.get("/account/password", follow_redirects=False).status_code == 303  # to the login page
    assert replayed.post("/api/v1/programmes", json={"name": "After logout"}).status_code in (401, 403)


def test_a_password_change_ends_every_session_and_token(app: FastAPI, client: TestClient, session: Session) -> None:
    user = factories.user(session, grants=(("facilitator", factories.cluster(session)),))
    token = factories.api_token(session, user)
    session.commit()
    laptop, phone = _logged_in(app, user.email), _logged_in(app, user.email)
    laptop_before = laptop.cookies.get(COOKIE)
    assert TestClient(app).get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    form = {"current": factories.PASSWORD, "new": "a new long passphrase", "csrf_token": _csrf(laptop)}
    changed = laptop.post("/account/password", data=form)
    assert changed.status_code == 200 and "Other devices have been logged out" in changed.text
    assert _kind(laptop) == "user"  # this browser goes on, with a new session
    assert _kind(phone) == "anonymous"
    assert _kind(_replay(app, laptop_before)) == "anonymous"
    assert TestClient(app).get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    listed = laptop.get("/api/v1/me/tokens").json()
    assert [(t["name"], t["active"], t["revoked_at"] is not None) for t in listed] == [("tests", False, True)]


def test_a_deactivated_account_is_logged_out(app: FastAPI, client: TestClient, session: Session) -> None:
    user = factories.user(session)
    session.commit()
    browser = _logged_in(app, user.email)
    user.is_active = False
    session.add(user)
    session.commit()
    assert _kind(browser) == "anonymous"


def test_reissuing_or_revoking_a_link_ends_the_browser_opened_with_it(
    app: FastAPI, admin_client: TestClient, session: Session
) -> None:
    _cluster, round_, member = _member_world(session)
    first = admin_client.post(f"/api/v1/participants/{member.id}/link", json={}).json()["url"]
    phone = TestClient(app)
    assert phone.get(first.replace("http://127.0.0.1:8000", ""), follow_redirects=False).status_code == 303
    assert _kind(phone) == "member"
    copied = phone.cookies.get(COOKIE)
    assert phone.get(f"/rounds/{round_.id}/answer/1").status_code == 200

    second = admin_client.post(f"/api/v1/participants/{member.id}/link", json={}).json()["url"]
    assert _kind(phone) == "anonymous"
    assert phone.get(f"/rounds/{round_.id}/answer/1", follow_redirects=False).status_code in (303, 401, 404)
    assert _kind(_replay(app, copied)) == "anonymous"

    other_phone = TestClient(app)
    assert other_phone.get(second.replace("http://127.0.0.1:8000", ""), follow_redirects=False).status_code == 303
    assert _kind(other_phone) == "member"
    assert admin_client.delete(f"/api/v1/participants/{member.id}/link").status_code == 204
    assert _kind(other_phone) == "anonymous"


def test_removing_a_registered_participant_ends_their_session(
    app: FastAPI, admin_client: TestClient, session: Session
) -> None:
    _cluster, round_, _member = _member_world(session)
    code = admin_client.post(f"/api/v1/rounds/{round_.id}/join-codes").json()["code"]
    phone = TestClient(app)
    form = {"code": code, "person_name": "Walk-in", "organisation": "Stall 4", "csrf_token": _csrf(phone)}
    assert phone.post("/join", data=form, follow_redirects=False).status_code == 303
    assert _kind(phone) == "member"
    copied = phone.cookies.get(COOKIE)
    (registered,) = admin_client.get(f"/api/v1/rounds/{round_.id}/registrations").json()
    removal = admin_client.delete(f"/api/v1/rounds/{round_.id}/registrations/{registered['participant_id']}")
    assert removal.status_code == 204
    assert _kind(phone) == "anonymous" and _kind(_replay(app, copied)) == "anonymous"


def test_a_member_link_never_silently_replaces_a_staff_session(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    """A link sent from another site (or clicked by mistake) asks first; only a confirmed, CSRF-checked POST
    switches, and the staff session then ends on the server too."""
    _cluster, _round, member = _member_world(session)
    facilitator = factories.user(session)
    link = factories.member_link(session, member)
    session.commit()
    browser = _logged_in(app, facilitator.email)
    staff_cookie = browser.cookies.get(COOKIE)
    asked = browser.get(link, follow_redirects=False)
    assert asked.status_code == 200 and "Log out and continue as the member" in asked.text
    assert member.organisation in asked.text
    assert _kind(browser) == "user"
    forged = browser.post(link, follow_redirects=False)  # a cross-site form carries no CSRF token
    assert forged.status_code == 403 and _kind(browser) == "user"
    confirmed = browser.post(link, data={"csrf_token": _csrf(browser)}, follow_redirects=False)
    assert confirmed.status_code == 303 and _kind(browser) == "member"
    assert _kind(_replay(app, staff_cookie)) == "anonymous"
    # Without a staff session nothing is asked.
    fresh = TestClient(app)
    assert fresh.get(link, follow_redirects=False).status_code == 303 and _kind(fresh) == "member"


def test_api_tokens_are_listed_named_revocable_and_expire(app: FastAPI, client: TestClient, session: Session) -> None:
    user = factories.user(session)
    session.commit()
    browser = _logged_in(app, user.email)
    headers = {"X-CSRF-Token": _csrf(browser)}
    soon = datetime.now(UTC) + timedelta(days=30)
    issued = browser.post(
        "/api/v1/me/tokens", json={"name": "nightly export", "expires_at": soon.isoformat()}, headers=headers
    )
    assert issued.status_code == 201
    plaintext = issued.json()["token"]
    assert plaintext.startswith("cs_")
    listed = browser.get("/api/v1/me/tokens").json()
    assert [(t["name"], t["active"]) for t in listed] == [("nightly export", True)]
    assert plaintext not in str(listed) and plaintext not in browser.get("/account/tokens").text  # shown once
    script = TestClient(app)
    script.headers["Authorization"] = f"Bearer {plaintext}"
    assert script.get("/api/v1/me").json()["kind"] == "user"
    assert browser.delete(f"/api/v1/me/tokens/{issued.json()['id']}", headers=headers).status_code == 204
    assert script.get("/api/v1/me").status_code == 401
    # Expiry: valid until the moment, not after.
    token, expiring = auth_service.issue_api_token(
        session, user, "short", expires_at=datetime.now(UTC) + timedelta(hours=1)
    )
    session.commit()
    assert auth_service.user_for_api_token(session, expiring, record_use=False) is not None
    assert (
        auth_service.user_for_api_token(session, expiring, record_use=False, now=datetime.now(UTC) + timedelta(hours=2))
        is None
    )
    session.commit()
    assert (
        browser.post(
            "/api/v1/me/tokens", json={"name": "x", "expires_at": "9999-12-31T23:59:59-12:00"}, headers=headers
        ).status_code
        == 422
    )
    # Someone else's token id is not found, and stays valid.
    other = factories.user(session)
    others_token = factories.api_token(session, other)
    session.commit()
    others_id = auth_service.api_tokens(session, other)[0].id
    assert browser.delete(f"/api/v1/me/tokens/{others_id}", headers=headers).status_code == 404
    assert TestClient(app).get("/api/v1/me", headers={"Authorization": f"Bearer {others_token}"}).status_code == 200
    assert token.id


def test_the_tokens_page_shows_a_new_token_once_and_revokes(app: FastAPI, client: TestClient, session: Session) -> None:
    user = factories.user(session)
    session.commit()
    browser = _logged_in(app, user.email)
    created = browser.post(
        "/account/tokens", data={"name": "reporting", "expires_on": "", "csrf_token": _csrf(browser)}
    )
    assert created.status_code == 200 and "shown only this once" in created.text
    plaintext = next(word for word in created.text.split(">") if word.startswith("cs_")).split("<")[0]
    page = browser.get("/account/tokens").text
    assert "reporting" in page and plaintext not in page
    refused = browser.post(
        "/account/tokens", data={"name": "later", "expires_on": "9999-12-31", "csrf_token": _csrf(browser)}
    )
    assert refused.status_code == 422 and "ten years" in refused.text
    (token,) = [t for t in browser.get("/api/v1/me/tokens").json() if t["name"] == "reporting"]
    revoked = browser.post(
        f"/account/tokens/{token['id']}/revoke", data={"csrf_token": _csrf(browser)}, follow_redirects=False
    )
    assert revoked.status_code == 303
    assert TestClient(app).get("/api/v1/me", headers={"Authorization": f"Bearer {plaintext}"}).status_code == 401
