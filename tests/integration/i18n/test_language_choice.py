"""Pages, error pages and API errors in the member's or user's language; the switch on every page."""

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.audit.models import AuditEvent
from app.auth import service as auth_service
from app.auth.models import User
from app.clusters.models import Participant
from app.responses import service as response_service
from tests import factories


def _csrf(client: TestClient) -> str:
    token: str = client.get("/api/v1/me").json()["csrf_token"]
    return token


def _switch(client: TestClient, language: str, next_url: str = "/login") -> str:
    form = {"language": language, "next": next_url, "csrf_token": _csrf(client)}
    response = client.post("/language", data=form, follow_redirects=False)
    assert response.status_code == 303
    return response.headers["location"]


def test_browser_language_decides_for_someone_not_logged_in(client: TestClient) -> None:
    thai = client.get("/login", headers={"Accept-Language": "th-TH,th;q=0.9,en;q=0.5"})
    assert '<html lang="th">' in thai.text
    assert "<h1>เข้าสู่ระบบ</h1>" in thai.text
    assert thai.headers["content-language"] == "th"
    brazil = client.get("/login", headers={"Accept-Language": "de;q=1, pt-BR;q=0.8"})
    assert '<html lang="pt-BR">' in brazil.text and "<h1>Entrar</h1>" in brazil.text
    other = client.get("/login", headers={"Accept-Language": "de"})
    assert '<html lang="en">' in other.text and "<h1>Log in</h1>" in other.text


def test_switch_is_on_every_page_works_without_javascript_and_is_remembered(client: TestClient) -> None:
    for path in ("/", "/login", "/join"):
        page = client.get(path).text
        assert '<form class="languages" method="post" action="/language"' in page
        for code, name in (("en", "English"), ("es", "Español"), ("pt", "Português"), ("th", "ไทย")):
            assert f'name="language" value="{code}" lang="{code}"' in page and name in page
    assert _switch(client, "es", "/join") == "/join"
    assert client.cookies.get("clusterscore_lang") == "es"
    # The cookie outranks the browser's own preference.
    page = client.get("/join", headers={"Accept-Language": "th"}).text
    assert "<h1>Únase a la evaluación de su clúster</h1>" in page
    assert 'value="es" lang="es" aria-current="true"' in page


def test_switch_refuses_unknown_languages_and_foreign_redirects(client: TestClient) -> None:
    assert _switch(client, "th", "//evil.example/") == "/"
    assert _switch(client, "th", "https://evil.example/") == "/"
    form = {"language": "xx", "next": "/", "csrf_token": _csrf(client)}
    assert client.post("/language", data=form, follow_redirects=False).status_code == 422
    assert client.post("/language", data={"language": "es"}, follow_redirects=False).status_code == 403


def test_member_link_language_then_the_members_own_choice(client: TestClient, session: Session) -> None:
    cluster = factories.cluster(session)
    member = factories.participant(session, cluster, language="th", person_name="Somchai")
    factories.open_round(session, cluster)
    token = auth_service.issue_member_link(session, member.id or 0)
    session.commit()
    assert client.get(f"/m/{token}", follow_redirects=False).status_code == 303
    home = client.get("/", headers={"Accept-Language": "en"}).text
    assert '<html lang="th">' in home and "ยินดีต้อนรับ คุณSomchai" in home

    assert _switch(client, "es", "/") == "/"
    assert "Bienvenido/a, Somchai" in client.get("/").text
    session.expire_all()
    assert session.get(Participant, member.id).language == "es"  # follows the link to another device
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "language_chosen")).one()
    assert (event.before, event.after, event.cluster_id) == ({"language": "th"}, {"language": "es"}, cluster.id)


def test_user_profile_language_outranks_the_browser(client: TestClient, session: Session) -> None:
    user = factories.user(session, is_admin=True)
    session.commit()
    form = {"email": user.email, "password": factories.PASSWORD, "csrf_token": _csrf(client)}
    assert client.post("/login", data=form, follow_redirects=False).status_code == 303
    assert _switch(client, "pt", "/") == "/"
    client.cookies.clear()  # another browser: the profile still knows
    session.expire_all()
    assert session.get(User, user.id).language == "pt"
    form = {"email": user.email, "password": factories.PASSWORD, "csrf_token": _csrf(client)}
    assert client.post("/login", data=form, follow_redirects=False).status_code == 303
    page = client.get("/", headers={"Accept-Language": "th"}).text
    assert "<h1>Suas iniciativas de cluster</h1>" in page


def test_form_and_error_page_messages_are_translated(client: TestClient) -> None:
    headers = {"Accept-Language": "es"}
    form = {"email": "nobody@example.org", "password": "wrong password", "csrf_token": _csrf(client)}
    wrong = client.post("/login", data=form, headers=headers)
    assert "Correo electrónico o contraseña incorrectos." in wrong.text
    missing = client.get("/m/not-a-real-token", headers={"Accept-Language": "th"})
    assert missing.status_code == 404 and "ลิงก์นี้ใช้ไม่ได้หรือหมดอายุแล้ว" in missing.text


def test_api_errors_and_answer_messages_in_the_callers_language(client: TestClient, session: Session) -> None:
    cluster = factories.cluster(session)
    member = factories.participant(session, cluster, language="pt")
    round_ = factories.open_round(session, cluster)
    response = response_service.start_response(session, round_, member)
    token = auth_service.issue_member_link(session, member.id or 0)
    session.commit()
    client.get(f"/m/{token}", follow_redirects=False)
    headers = {"X-CSRF-Token": _csrf(client)}
    body = {
        "answers": [{"kpi_key": "loan-repayment-period", "value": "many"}],
        "ratings": [{"csf_key": "ease-of-access-to-loans", "rating": 9}],
    }
    rejected = client.put(f"/api/v1/responses/{response.id}", json=body, headers=headers)
    assert rejected.status_code == 422
    assert rejected.json()["detail"] == "Algumas respostas não puderam ser salvas."
    messages = {e["field"]: e["message"] for e in rejected.json()["errors"]}
    assert messages["answers[0].value"] == "Informe um número, escrito assim: 1.234,5."
    assert messages["ratings[0].rating"] == "Escolha uma nota de 1 a 5."
    not_found = client.get("/api/v1/responses/999999", headers={"Accept-Language": "en"})
    assert not_found.json()["detail"] == "Essa resposta não existe."
