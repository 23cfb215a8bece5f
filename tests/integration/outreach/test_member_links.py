"""Members' personal links: emailed through a real SMTP server (aiosmtpd) in each member's language, copyable
messages, and reissues that never touch a submitted member or a working link unless asked for by name, after a
confirmation that says who loses their link."""

import re
from collections.abc import Iterator
from datetime import date

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from app.auth.models import MemberLink
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


def _links(session: Session) -> int:
    session.commit()
    return session.exec(select(func.count()).select_from(MemberLink)).one()


def _confirm(http: TestClient, round_id: int, who: str, how: str) -> tuple[str, str]:
    page = http.get(f"/rounds/{round_id}/member-links", params={"who": who, "how": how}).text
    planned = re.search(r'name="planned_ids" value="([^"]*)"', page)
    return page, planned.group(1) if planned else ""


def test_bulk_email_reaches_only_those_without_a_working_link(
    app: FastAPI, client: TestClient, session: Session, sink: SmtpSink
) -> None:
    cluster = factories.cluster(session, name="Chiang Mai coffee")
    round_ = factories.open_round(session, cluster)
    round_.closes_on = date(2027, 3, 31)
    done = factories.participant(session, cluster, organisation="Done Foods", email="done@example.org")
    factories.submitted(session, round_, done, answers={}, ratings={})
    holder = factories.participant(session, cluster, organisation="Holder Rice", email="holder@example.org")
    holder_link = factories.member_link(session, holder)
    factories.participant(session, cluster, organisation="No Mail Sauces")
    factories.participant(
        session, cluster, organisation="Ploy Foods", person_name="Ploy", email="ploy@example.org", language="th"
    )
    factories.participant(
        session, cluster, organisation="Ana Café", person_name="Ana", email="ana@example.org", language="es"
    )
    http = factories.logged_in(app, session, factories.user(session, grants=(("facilitator", cluster),)))
    before = _links(session)

    page, planned = _confirm(http, round_.id or 0, "missing", "email")
    assert "2 participants get a new link:" in page and "Nobody loses a working link." in page
    assert "Already submitted, left as they are: Done Foods" in page
    assert "Their link still works, left as they are: Holder Rice" in page
    assert "No email address, print or copy theirs instead: No Mail Sauces" in page
    assert _links(session) == before  # the confirmation only looks

    sent = http.post(
        f"/rounds/{round_.id}/member-links", data={"who": "missing", "how": "email", "planned_ids": planned}
    )
    assert "2 emails sent." in sent.text
    assert sorted(m["To"] for m in sink.messages) == ["ana@example.org", "ploy@example.org"]
    (spanish,) = sink.to("ana@example.org")
    body = SmtpSink.body(spanish)
    assert spanish["Content-Language"] == "es" and "Chiang Mai coffee" in body and "31 de marzo de 2027" in body
    path = re.search(r"http://[^/\s]+(/m/\S+)", body).group(1)  # type: ignore[union-attr]
    assert TestClient(app).get(path, follow_redirects=False).status_code == 303
    assert TestClient(app).get(holder_link, follow_redirects=False).status_code == 303  # untouched

    # Done again: everyone is covered now, nobody gets anything.
    page, planned = _confirm(http, round_.id or 0, "missing", "email")
    assert "Nobody needs a new link." in page and planned == ""


def test_one_persons_new_link_says_who_loses_theirs_and_a_changed_plan_is_confirmed_again(
    app: FastAPI, client: TestClient, session: Session, sink: SmtpSink
) -> None:
    cluster = factories.cluster(session)
    round_ = factories.open_round(session, cluster)
    holder = factories.participant(session, cluster, organisation="Holder Rice", email="holder@example.org")
    old_link = factories.member_link(session, holder)
    http = factories.logged_in(app, session, factories.user(session, grants=(("facilitator", cluster),)))
    page, planned = _confirm(http, round_.id or 0, str(holder.id), "print")
    assert "1 of them loses their current link, which stops working: Holder Rice" in page

    stale = http.post(
        f"/rounds/{round_.id}/member-links",
        data={"who": str(holder.id), "how": "print", "planned_ids": f"{holder.id}|"},
        follow_redirects=False,
    )
    assert stale.status_code == 303 and "/member-links?who=" in stale.headers["location"]
    assert TestClient(app).get(old_link, follow_redirects=False).status_code == 303  # nothing happened

    cards = http.post(
        f"/rounds/{round_.id}/member-links", data={"who": str(holder.id), "how": "print", "planned_ids": planned}
    )
    assert 'id="message-' in cards.text and "Copy the message" in cards.text
    assert TestClient(app).get(old_link, follow_redirects=False).status_code == 404
    assert sink.messages == []


def test_a_mail_server_that_refuses_issues_no_link(
    app: FastAPI, client: TestClient, session: Session, sink: SmtpSink
) -> None:
    cluster = factories.cluster(session)
    round_ = factories.open_round(session, cluster)
    factories.participant(session, cluster, email="a@example.org")
    http = factories.logged_in(app, session, factories.user(session, grants=(("facilitator", cluster),)))
    before = _links(session)
    _page, planned = _confirm(http, round_.id or 0, "missing", "email")
    sink.refuse = True
    refused = http.post(
        f"/rounds/{round_.id}/member-links", data={"who": "missing", "how": "email", "planned_ids": planned}
    )
    assert refused.status_code == 503 and "Nothing was sent or changed" in refused.text
    assert _links(session) == before
