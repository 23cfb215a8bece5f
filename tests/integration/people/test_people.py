"""Inviting staff by email through a real SMTP server (aiosmtpd), the one-time link with which they set their own
password, and roles listed, changed and revoked on the page, in the API and in the CLI; all of it audited."""

import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.audit.models import AuditEvent
from app.auth.models import Grant, User
from app.config import Settings
from app.main import create_app
from tests import factories
from tests.support.smtp_sink import SmtpSink, smtp_sink


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with smtp_sink() as running:
        yield running


@pytest.fixture
def app(settings: Settings, sink: SmtpSink) -> FastAPI:
    mailing = settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": sink.port, "smtp_security": "none"})
    return create_app(mailing)


def _fresh(session: Session) -> None:
    session.commit()
    session.expire_all()


def _link(sink: SmtpSink, address: str) -> str:
    (message,) = sink.to(address)
    return re.search(r"https?://\S+/account/setup/\S+", SmtpSink.body(message)).group(0)  # type: ignore[union-attr]


def test_admin_invites_a_facilitator_who_sets_their_own_password(
    app: FastAPI, client: TestClient, session: Session, sink: SmtpSink
) -> None:
    cluster = factories.cluster(session, name="Chiang Mai coffee")
    admin = factories.logged_in(app, session, factories.user(session, is_admin=True))
    page = admin.post(
        "/people/invite",
        data={
            "email": "Ana@Example.org",
            "name": "Ana",
            "role": "facilitator",
            "scope": f"cluster:{cluster.id}",
            "language": "es",
        },
    )
    assert page.status_code == 200 and "Invitation sent to ana@example.org." in page.text
    (message,) = sink.to("ana@example.org")
    assert message["Subject"] == "Está invitado a ClusterScore" and message["Content-Language"] == "es"
    assert "Chiang Mai coffee" in SmtpSink.body(message)
    url = _link(sink, "ana@example.org")
    path = url.split("://", 1)[1].partition("/")[2]

    invitee = TestClient(app)
    assert "Ana" in invitee.get(f"/{path}").text  # opening it (a mail scanner) uses nothing up
    csrf = invitee.get("/api/v1/me").json()["csrf_token"]
    short = invitee.post(f"/{path}", data={"password": "short", "csrf_token": csrf})
    assert short.status_code == 422 and 'aria-invalid="true"' in short.text
    done = invitee.post(f"/{path}", data={"password": factories.PASSWORD, "csrf_token": csrf}, follow_redirects=False)
    assert done.status_code == 303
    me = invitee.get("/api/v1/me").json()
    assert me["kind"] == "user" and me["grants"] == [
        {"role": "facilitator", "programme_id": None, "cluster_id": cluster.id}
    ]
    assert TestClient(app).get(f"/{path}").status_code == 404  # one time only

    _fresh(session)
    actions = [e.action for e in session.exec(select(AuditEvent).where(AuditEvent.entity == "user"))]
    assert actions[-3:] == ["user_invited", "grant_role", "password_set_from_link"]


def test_a_mail_server_that_refuses_leaves_no_account_and_no_role(
    app: FastAPI, client: TestClient, session: Session, sink: SmtpSink
) -> None:
    cluster = factories.cluster(session)
    admin = factories.logged_in(app, session, factories.user(session, is_admin=True))
    sink.refuse = True
    page = admin.post(
        "/people/invite", data={"email": "ana@example.org", "role": "facilitator", "scope": f"cluster:{cluster.id}"}
    )
    assert page.status_code == 503 and "Nothing was sent or changed" in page.text
    _fresh(session)
    assert session.exec(select(User).where(User.email == "ana@example.org")).first() is None


def test_agency_staff_manage_roles_only_in_their_programme(
    app: FastAPI, client: TestClient, session: Session, sink: SmtpSink
) -> None:
    programme = factories.programme(session)
    own = factories.cluster(session, in_programme=programme)
    other = factories.cluster(session)
    facilitator = factories.user(session, grants=(("facilitator", own),))
    outsider = factories.user(session, grants=(("facilitator", other),))
    agency = factories.logged_in(app, session, factories.user(session, grants=(("agency", programme),)))
    page = agency.get("/people")
    assert facilitator.email in page.text and outsider.email not in page.text
    assert other.name not in page.text

    refused = agency.post(
        "/people/invite", data={"email": "x@example.org", "role": "facilitator", "scope": f"cluster:{other.id}"}
    )
    assert refused.status_code == 404
    wrong = agency.post(
        "/people/invite", data={"email": "x@example.org", "role": "agency", "scope": f"cluster:{own.id}"}
    )
    assert wrong.status_code == 422 and "given a programme" in wrong.text and 'value="x@example.org"' in wrong.text
    assert sink.messages == []

    (grant,) = [g for g in session.exec(select(Grant).where(Grant.user_id == facilitator.id))]
    agency.post(f"/grants/{grant.id}", data={"role": "observer"})
    _fresh(session)
    assert [g.role for g in session.exec(select(Grant).where(Grant.user_id == facilitator.id))] == ["observer"]
    (outsiders,) = session.exec(select(Grant).where(Grant.user_id == outsider.id)).all()
    assert agency.post(f"/grants/{outsiders.id}/revoke").status_code == 404
    assert factories.logged_in(app, session, facilitator).get("/people").status_code == 403

    token = factories.api_token(session, factories.user(session, grants=(("agency", programme),)))
    api = TestClient(app, headers={"Authorization": f"Bearer {token}"})
    session.commit()
    listed = {p["email"]: p for p in api.get("/api/v1/people").json()}
    assert outsider.email not in listed and listed[facilitator.email]["grants"][0]["role"] == "observer"
    (observer_grant,) = listed[facilitator.email]["grants"]
    assert (
        api.patch(f"/api/v1/grants/{observer_grant['id']}", json={"role": "facilitator"}).json()["role"]
        == "facilitator"
    )
    invited = api.post(
        "/api/v1/people/invitations",
        json={"email": "obs@example.org", "role": "observer", "programme_id": programme.id},
    )
    assert invited.status_code == 201 and invited.json()["emailed"] and invited.json()["setup_url"] is None
    assert len(sink.to("obs@example.org")) == 1
    assert api.delete(f"/api/v1/grants/{invited.json()['grant']['id']}").status_code == 204
    _fresh(session)
    audited = [e.action for e in session.exec(select(AuditEvent).where(AuditEvent.entity == "user"))]
    assert audited.count("change_role") == 2 and audited.count("revoke_role") == 1 and "user_invited" in audited


def test_the_cli_invites_lists_changes_and_revokes(
    settings: Settings, session: Session, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from app import cli

    create_app(settings)  # the database is migrated by the fixture; the CLI reads DATABASE_URL
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    cli.get_settings.cache_clear()
    cluster = factories.cluster(session)
    session.commit()
    try:
        assert (
            cli.main(
                [
                    "invite",
                    "--email",
                    "noi@example.org",
                    "--name",
                    "Noi",
                    "--role",
                    "facilitator",
                    "--cluster",
                    str(cluster.id),
                ]
            )
            == 0
        )
        assert "/account/setup/" in capsys.readouterr().out
        assert cli.main(["invite", "--email", "noi@example.org", "--role", "agency", "--cluster", str(cluster.id)]) == 1
        assert "given a programme" in capsys.readouterr().err
        assert cli.main(["grants"]) == 0
        listing = capsys.readouterr().out
        assert "noi@example.org" in listing and "facilitator" in listing
        grant_id = int(re.search(r"^\s*(\d+)\s+noi@example.org", listing, re.M).group(1))  # type: ignore[union-attr]
        assert cli.main(["change-role", str(grant_id), "observer"]) == 0
        assert cli.main(["revoke", str(grant_id)]) == 0
    finally:
        cli.get_settings.cache_clear()
    _fresh(session)
    assert session.exec(select(Grant).join(User).where(User.email == "noi@example.org")).all() == []
    actions = [e.action for e in session.exec(select(AuditEvent).where(AuditEvent.actor == "cli"))]
    assert actions == ["user_invited", "grant_role", "change_role", "revoke_role"]
