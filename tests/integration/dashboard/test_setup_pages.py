"""Setting a cluster up from pages (issue 21): the cluster, participants, importing a list with a dry run, rounds
with answering dates and a confirmation before closing. Refusals keep what was typed and change nothing."""

import io

from fastapi import FastAPI
from fastapi.testclient import TestClient
from openpyxl import Workbook
from sqlmodel import Session, func, select

from app.audit.models import AuditEvent
from app.clusters.models import Cluster, Participant
from app.rounds.models import Round
from app.scorecards import service as scorecard_service
from tests import factories


def _fresh(session: Session) -> None:
    """Ends the test's read transaction: SQLite keeps its snapshot until then."""
    session.commit()
    session.expire_all()


def _count(session: Session, model: type) -> int:
    _fresh(session)
    return session.exec(select(func.count()).select_from(model)).one()


def test_agency_creates_and_edits_a_cluster_facilitator_may_not(app: FastAPI, session: Session) -> None:
    programme = factories.programme(session)
    agency = factories.logged_in(app, session, factories.user(session, grants=(("agency", programme),)))
    page = agency.get(f"/programmes/{programme.id}/clusters/new")
    assert page.status_code == 200 and "Thai" in page.text
    template_id = scorecard_service.latest_version(session, "thai-food-cluster").id
    refused = agency.post(
        f"/programmes/{programme.id}/clusters",
        data={"name": "Chiang Mai coffee", "country": "Thailand", "template_version_id": template_id},
    )
    assert refused.status_code == 422
    assert 'value="Chiang Mai coffee"' in refused.text and "not valid here" in refused.text
    before = _count(session, Cluster)
    created = agency.post(
        f"/programmes/{programme.id}/clusters",
        data={"name": "Chiang Mai coffee", "country": "th", "sector": "Coffee", "template_version_id": template_id},
        follow_redirects=False,
    )
    assert created.status_code == 303
    assert _count(session, Cluster) == before + 1
    cluster = session.exec(select(Cluster).where(Cluster.name == "Chiang Mai coffee")).one()
    assert cluster.country == "TH" and cluster.programme_id == programme.id

    edited = agency.post(
        f"/clusters/{cluster.id}/edit",
        data={"name": "Chiang Mai coffee growers", "country": "TH", "stage": "growing"},
        headers={"HX-Request": "true"},
    )
    assert edited.status_code == 200 and "Saved." in edited.text
    _fresh(session)
    session.refresh(cluster)
    assert (cluster.name, cluster.stage) == ("Chiang Mai coffee growers", "growing")

    facilitator = factories.logged_in(app, session, factories.user(session, grants=(("facilitator", cluster),)))
    assert facilitator.get(f"/clusters/{cluster.id}/edit").status_code == 403
    assert facilitator.post(f"/clusters/{cluster.id}/edit", data={"name": "Mine"}).status_code == 403
    assert facilitator.get(f"/programmes/{programme.id}/clusters/new").status_code == 404
    _fresh(session)
    session.refresh(cluster)
    assert cluster.name == "Chiang Mai coffee growers"


def test_participants_added_edited_deactivated_with_errors_next_to_the_field(app: FastAPI, session: Session) -> None:
    cluster = factories.cluster(session)
    http = factories.logged_in(app, session, factories.user(session, grants=(("facilitator", cluster),)))
    refused = http.post(
        f"/clusters/{cluster.id}/participants",
        data={
            "organisation": "Mae Ploy Foods",
            "person_name": "Ploy",
            "email": "ploy-at-example",
            "organisation_type": "firm",
        },
    )
    assert refused.status_code == 422
    assert 'id="new-email-error"' in refused.text and "Enter a valid email address." in refused.text
    assert 'value="Mae Ploy Foods"' in refused.text and 'value="ploy-at-example"' in refused.text
    assert _count(session, Participant) == 0

    added = http.post(
        f"/clusters/{cluster.id}/participants",
        data={"organisation": "Mae Ploy Foods", "person_name": "Ploy", "email": "ploy@example.org", "language": "th"},
    )
    assert added.status_code == 200 and "Saved" in added.text
    _fresh(session)
    member = session.exec(select(Participant)).one()
    assert (member.email, member.language) == ("ploy@example.org", "th")

    row = http.post(
        f"/participants/{member.id}",
        data={"organisation": "", "person_name": "Ploy S.", "email": "ploy@example.org", "organisation_type": "firm"},
        headers={"HX-Request": "true"},
    )
    assert row.status_code == 422 and row.text.lstrip().startswith("<tr")
    assert "Please fill this in." in row.text and 'value="Ploy S."' in row.text
    _fresh(session)
    session.refresh(member)
    assert member.organisation == "Mae Ploy Foods"
    row = http.post(
        f"/participants/{member.id}",
        data={"organisation": "Mae Ploy Foods Ltd", "person_name": "Ploy S.", "email": "", "organisation_type": "firm"},
        headers={"HX-Request": "true"},
    )
    assert row.status_code == 200 and "Saved" in row.text
    _fresh(session)
    session.refresh(member)
    assert (member.organisation, member.email) == ("Mae Ploy Foods Ltd", None)

    http.post(f"/participants/{member.id}/active", data={"active": "no"})
    _fresh(session)
    session.refresh(member)
    assert not member.active
    _fresh(session)
    audited = select(AuditEvent).where(AuditEvent.entity == "participant", AuditEvent.entity_id == member.id)
    actions = [e.action for e in session.exec(audited)]
    assert actions == ["participant_changed", "participant_deactivated"]

    observer = factories.logged_in(app, session, factories.user(session, grants=(("observer", cluster),)))
    assert observer.get(f"/clusters/{cluster.id}/participants").status_code == 404
    assert observer.post(f"/participants/{member.id}/active", data={"active": "yes"}).status_code == 404
    _fresh(session)
    session.refresh(member)
    assert not member.active


PASTED = (
    "Organisation;Contact;E-mail;Type\n"
    "Mae Ploy Foods, Ltd;Ploy;ploy@example.org;firm\n"
    "Lanna Rice;Somchai;somchai@example;firm\n"
    ";Nobody;;firm\n"
    "Chiang Mai University;Dr Anan;anan@example.org;research\n"
    "mae ploy foods, ltd;PLOY;;firm\n"
)


def test_import_previews_writes_nothing_then_adds_only_what_it_showed(app: FastAPI, session: Session) -> None:
    cluster = factories.cluster(session)
    factories.participant(session, cluster, organisation="Chiang Mai University", person_name="Dr Anan")
    http = factories.logged_in(app, session, factories.user(session, grants=(("facilitator", cluster),)))
    url = f"/clusters/{cluster.id}/participants/import"

    preview = http.post(url, data={"text": PASTED, "action": "preview"})
    assert preview.status_code == 200
    text = preview.text
    assert "1 participant will be added." in text
    assert "somchai@example” is not an email address." in text
    assert "The organisation is missing." in text
    assert "already there: skipped" in text
    assert _count(session, Participant) == 1  # a dry run

    checked = text.split('name="checked" value="')[1].split('"')[0]
    mapping = {"map_organisation": "0", "map_person_name": "1", "map_email": "2", "map_organisation_type": "3"}
    form = {"text": PASTED, "has_header": "on", "checked": checked, **mapping}
    changed = http.post(url, data={**form, "map_email": "", "action": "import"})
    assert "will be added" in changed.text and _count(session, Participant) == 1  # not what was previewed

    done = http.post(url, data={**form, "action": "import"})
    assert "1 participant added." in done.text and "4 rows skipped" in done.text
    _fresh(session)
    names = sorted(p.organisation for p in session.exec(select(Participant)))
    assert names == ["Chiang Mai University", "Mae Ploy Foods, Ltd"]
    again = http.post(url, data={**form, "action": "import"})
    assert "0 participants added." in again.text and _count(session, Participant) == 2


def test_import_from_an_excel_file(app: FastAPI, session: Session) -> None:
    cluster = factories.cluster(session)
    http = factories.logged_in(app, session, factories.user(session, grants=(("facilitator", cluster),)))
    book = Workbook()
    sheet = book.active
    sheet.append(["Company", "Name", "Email"])
    for n in range(1, 4):
        sheet.append([f"Firm {n}", f"Owner {n}", f"owner{n}@example.org"])
    content = io.BytesIO()
    book.save(content)
    files = {"file": ("members.xlsx", content.getvalue(), "application/octet-stream")}
    preview = http.post(f"/clusters/{cluster.id}/participants/import", data={"action": "preview"}, files=files)
    assert "3 participants will be added." in preview.text
    assert _count(session, Participant) == 0
    broken = http.post(
        f"/clusters/{cluster.id}/participants/import",
        data={"action": "preview"},
        files={"file": ("members.xlsx", b"not a workbook", "application/octet-stream")},
    )
    assert broken.status_code == 422 and "could not be read as an Excel workbook" in broken.text


def test_a_round_with_dates_shown_to_members_and_closed_only_after_confirming(app: FastAPI, session: Session) -> None:
    cluster = factories.cluster(session)
    member = factories.participant(session, cluster)
    link = factories.member_link(session, member)
    http = factories.logged_in(app, session, factories.user(session, grants=(("facilitator", cluster),)))

    refused = http.post(
        f"/clusters/{cluster.id}/rounds",
        data={"label": "2027 H1", "opens_on": "2027-03-01", "closes_on": "2027-02-01"},
        headers={"HX-Request": "true"},
    )
    assert refused.status_code == 422 and 'value="2027 H1"' in refused.text
    assert 'id="closes_on-error"' in refused.text and "cannot be before the first" in refused.text
    assert _count(session, Round) == 0

    created = http.post(
        f"/clusters/{cluster.id}/rounds",
        data={"label": "2027 H1", "opens_on": "2027-03-01", "closes_on": "2027-03-31"},
        follow_redirects=False,
    )
    assert created.status_code == 303
    _fresh(session)
    round_ = session.exec(select(Round)).one()
    assert str(round_.closes_on) == "2027-03-31"
    http.post(f"/rounds/{round_.id}/status", data={"status": "open"})

    session.commit()
    phone = TestClient(app, headers={"Accept-Language": "es"})
    home = phone.get(link)  # to the member's home page
    assert "31 de marzo de 2027" in home.text

    asked = http.post(f"/rounds/{round_.id}/status", data={"status": "closed"}, follow_redirects=False)
    assert asked.status_code == 303 and asked.headers["location"] == f"/rounds/{round_.id}/close"
    _fresh(session)
    session.refresh(round_)
    assert round_.status == "open"
    confirm = http.get(f"/rounds/{round_.id}/close")
    assert "1 participant has not submitted" in confirm.text
    http.post(f"/rounds/{round_.id}/status", data={"status": "closed", "confirmed": "yes"})
    _fresh(session)
    session.refresh(round_)
    assert round_.status == "closed"


def _join(app: FastAPI, code: str, person_name: str, organisation: str) -> TestClient:
    phone = TestClient(app)
    csrf = phone.get("/api/v1/me").json()["csrf_token"]
    form = {"code": code, "person_name": person_name, "organisation": organisation, "csrf_token": csrf}
    assert phone.post("/join", data=form, follow_redirects=False).status_code == 303
    return phone


def test_rejoining_under_the_same_name_continues_as_the_same_participant(app: FastAPI, session: Session) -> None:
    cluster = factories.cluster(session)
    linked = factories.participant(session, cluster, organisation="Stall 4", person_name="Noi")
    round_ = factories.open_round(session, cluster)
    staff = factories.user(session, grants=(("facilitator", cluster),))
    http = factories.logged_in(app, session, staff)
    code = http.post(f"/api/v1/rounds/{round_.id}/join-codes").json()["code"]

    first = _join(app, code, "Walk-in", "Stall 9")
    second = _join(app, code, "  walk-in ", "STALL 9")
    assert first.get("/api/v1/me").json()["name"] == second.get("/api/v1/me").json()["name"] == "Stall 9"
    # A personal link's participant is never matched: the name of someone else's link opens nothing of theirs.
    _join(app, code, "Noi", "Stall 4")
    _fresh(session)
    stalls = [(p.organisation, p.id == linked.id) for p in session.exec(select(Participant).order_by(Participant.id))]
    assert stalls == [("Stall 4", True), ("Stall 9", False), ("Stall 4", False)]


def test_duplicates_merged_with_their_answers_or_refused_when_both_answered(app: FastAPI, session: Session) -> None:
    from app.auth import service as auth_service

    cluster = factories.cluster(session)
    round_ = factories.open_round(session, cluster)
    staff = factories.user(session, grants=(("facilitator", cluster),))
    assert staff.id is not None and round_.id is not None
    join_code, _code = auth_service.open_join_code(session, round_.id, created_by=staff.id, secret="s")
    twins = []
    for name in ("Noi", "Noi ", "NOI"):
        # Registered before rejoining matched them (or typed on three phones at once): three participants.
        member = factories.participant(session, cluster, organisation="Stall 9", person_name=name)
        auth_service.record_registration(session, join_code, member.id or 0)
        twins.append(member)
    factories.submitted(session, round_, twins[1], answers={}, ratings={})
    factories.submitted(session, round_, twins[2], answers={}, ratings={})
    http = factories.logged_in(app, session, staff)
    page = http.get(f"/rounds/{round_.id}/registrations")
    assert page.text.count("Keep this one, merge the others into it") == 3

    refused = http.post(
        f"/rounds/{round_.id}/registrations/merge", data={"keep": twins[1].id, "merge": [twins[0].id, twins[2].id]}
    )
    assert refused.status_code == 409 and "both answered the same round" in refused.text
    _fresh(session)
    assert all(p.active for p in session.exec(select(Participant)))

    merged = http.post(f"/rounds/{round_.id}/registrations/merge", data={"keep": twins[1].id, "merge": [twins[0].id]})
    assert merged.status_code == 200
    _fresh(session)
    active = {p.id: p.active for p in session.exec(select(Participant))}
    assert active == {twins[0].id: False, twins[1].id: True, twins[2].id: True}
    assert [r.participant_id for r in auth_service.registrations(session, round_.id)] == [twins[1].id, twins[2].id]
