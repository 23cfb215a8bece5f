"""OpenRosa over HTTP exactly as ODK Collect speaks it, and as ODK Central answers it: formList (with
?formID=), form download, HEAD then a chunked multipart POST of xml_submission_file; 201 for every
accepted submission, repeats included; the announced size enforced; <OpenRosaResponse> error bodies;
401 challenges; instanceIDs scoped to the member; older form versions; a staff device (enumerator)."""

import base64
import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.etree import ElementTree

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from app.audit.models import AuditEvent
from app.auth import service as auth_service
from app.clusters import service as cluster_service
from app.clusters.models import Cluster, Participant
from app.clusters.schemas import KpiSettingsUpdate
from app.interop.models import OdkSubmission
from app.interop.openrosa import MAX_SUBMISSION_BYTES
from app.responses import service as response_service
from app.responses.models import Answer, CsfRating, Response
from app.responses.schemas import AnswerIn, ResponseDraft
from app.rounds import service as round_service
from app.rounds.models import Round
from app.rounds.schemas import RoundStatus
from tests import factories

OPENROSA = {"X-OpenRosa-Version": "1.0"}
XF = "{http://www.w3.org/2002/xforms}"
FORMS = "{http://openrosa.org/xforms/xformsList}"
RESPONSE = "{http://openrosa.org/http/response}"
PLAN = "k_business_marketing_plans"  # yes/no, member level
LOANS = "r_ease_of_access_to_loans"


def multipart(parts: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = b"".join(
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + content
        + b"\r\n"
        for name, (filename, content) in parts.items()
    )
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def chunks(body: bytes, size: int = 100) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


@dataclass
class Device:
    """A phone running ODK Collect, set up with a server URL (and, for staff, a user name and password)."""

    http: TestClient
    server: str
    auth: dict[str, str]

    def get(self, path: str, **params: str) -> httpx.Response:
        return self.http.get(self.server + path, headers={**OPENROSA, **self.auth}, params=params)

    def send(
        self, xml: bytes, *, chunked: bool = True, extra: dict[str, tuple[str, bytes]] | None = None
    ) -> httpx.Response:
        body, content_type = multipart({"xml_submission_file": ("submission.xml", xml), **(extra or {})})
        headers = {**OPENROSA, **self.auth, "Content-Type": content_type}
        return self.http.post(self.server + "/submission", content=chunks(body) if chunked else body, headers=headers)

    def form(self) -> ElementTree.Element:
        listing = ElementTree.fromstring(self.get("/formList").content)
        url = listing.findtext(f"{FORMS}xform/{FORMS}downloadUrl") or ""
        return ElementTree.fromstring(self.http.get(url, headers={**OPENROSA, **self.auth}).content)


def fill(
    form: ElementTree.Element, values: dict[str, str], instance_id: str, deprecated_id: str = "", version: str = ""
) -> bytes:
    """Build the instance the way Collect does: the form's primary instance with the answers filled in."""
    model = next(form.iter(f"{XF}model"))
    instance = next(iter(next(model.iter(f"{XF}instance"))))
    root = ElementTree.fromstring(ElementTree.tostring(instance))
    for element in root.iter():
        name = element.tag.rsplit("}", 1)[-1]
        if name in values:
            element.text = values[name]
        elif name == "instanceID":
            element.text = instance_id
    if deprecated_id:
        meta = next(e for e in root.iter() if e.tag.endswith("meta"))
        ElementTree.SubElement(meta, meta.tag.replace("meta", "deprecatedID")).text = deprecated_id
    if version:
        root.set("version", version)
    return ElementTree.tostring(root, encoding="utf-8")


@dataclass
class Setup:
    device: Device
    cluster: Cluster
    round_id: int
    member: Participant
    form: ElementTree.Element


def _member_device(app: FastAPI, session: Session, member: Participant) -> Device:
    token = auth_service.issue_member_link(session, member.id or 0)
    session.commit()
    return Device(TestClient(app), f"/openrosa/m/{token}", {})


@pytest.fixture
def setup(app: FastAPI, session: Session) -> Setup:
    cluster = factories.cluster(session)
    member = factories.participant(session, cluster)
    round_ = factories.open_round(session, cluster)
    device = _member_device(app, session, member)
    return Setup(device=device, cluster=cluster, round_id=round_.id or 0, member=member, form=device.form())


def openrosa_headers_ok(reply: httpx.Response) -> None:
    assert reply.headers["X-OpenRosa-Version"] == "1.0"
    assert reply.headers["X-OpenRosa-Accept-Content-Length"] == str(MAX_SUBMISSION_BYTES)


def refused(reply: httpx.Response, status: int) -> str:
    """An error as OpenRosa clients read it: the status, the headers and an <OpenRosaResponse> message."""
    assert reply.status_code == status, reply.text
    openrosa_headers_ok(reply)
    assert reply.headers["content-type"].startswith("text/xml")
    message = ElementTree.fromstring(reply.content)
    assert message.tag == f"{RESPONSE}OpenRosaResponse" and message[0].get("nature") == "error"
    return message[0].text or ""


def stored(session: Session) -> tuple[int, int, int]:
    session.commit()  # ends the test session's read transaction: SQLite then sees what the app committed since
    return tuple(  # type: ignore[return-value]
        session.exec(select(func.count()).select_from(table)).one() for table in (Response, Answer, OdkSubmission)
    )


def test_form_list_and_download(setup: Setup, session: Session) -> None:
    listing = setup.device.get("/formList")
    assert listing.status_code == 200
    openrosa_headers_ok(listing)
    root = ElementTree.fromstring(listing.content)
    assert root.tag == f"{FORMS}xforms"
    (entry,) = root.findall(f"{FORMS}xform")
    form_id = entry.findtext(f"{FORMS}formID")
    assert form_id == f"clusterscore_c{setup.cluster.id}_r{setup.round_id}"
    download = setup.device.http.get(entry.findtext(f"{FORMS}downloadUrl") or "", headers=OPENROSA)
    openrosa_headers_ok(download)
    assert entry.findtext(f"{FORMS}hash") == "md5:" + hashlib.md5(download.content).hexdigest()
    assert entry.findtext(f"{FORMS}version")
    # The personal form says who answers, hidden.
    assert next(setup.form.iter(f"{XF}participant_id")).text == str(setup.member.id)


def test_form_list_filters_on_form_id(setup: Setup, session: Session) -> None:
    second = factories.open_round(session, setup.cluster, label="2026 H2")
    session.commit()
    assert len(ElementTree.fromstring(setup.device.get("/formList").content)) == 2
    wanted = f"clusterscore_c{setup.cluster.id}_r{second.id}"
    only = ElementTree.fromstring(setup.device.get("/formList", formID=wanted).content)
    assert [e.findtext(f"{FORMS}formID") for e in only] == [wanted]
    assert len(ElementTree.fromstring(setup.device.get("/formList", formID="no_such_form").content)) == 0


def test_head_then_chunked_post_lands_in_responses_once(setup: Setup, session: Session) -> None:
    probe = setup.device.http.head(setup.device.server + "/submission", headers=OPENROSA)
    assert probe.status_code == 204
    openrosa_headers_ok(probe)

    xml = fill(setup.form, {PLAN: "yes", LOANS: "4"}, "uuid:one")
    reply = setup.device.send(xml)
    assert reply.status_code == 201, reply.text
    openrosa_headers_ok(reply)
    message = ElementTree.fromstring(reply.content)
    assert message.tag == f"{RESPONSE}OpenRosaResponse" and message[0].get("nature") == "submit_success"

    response = session.exec(select(Response).where(Response.participant_id == setup.member.id)).one()
    assert response.status == "submitted"
    answers = {a.kpi_key: a.value_num for a in session.exec(select(Answer).where(Answer.response_id == response.id))}
    assert answers == {"business-marketing-plans": 1.0}
    rating = session.exec(select(CsfRating).where(CsfRating.response_id == response.id)).one()
    assert (rating.csf_key, rating.rating) == ("ease-of-access-to-loans", 4)
    actions = set(session.exec(select(AuditEvent.action).where(AuditEvent.entity_id == response.id)))
    assert {"response_submitted", "odk_submission_received"} <= actions

    # Collect lost the reply and sends the same bytes again: 201 as the first time (OpenRosa, Central), nothing new.
    again = setup.device.send(xml, chunked=False)
    assert again.status_code == 201
    openrosa_headers_ok(again)
    assert stored(session) == (1, 1, 1)

    # Other bytes under the same instanceID: a conflict, nothing changed.
    other = fill(setup.form, {PLAN: "no"}, "uuid:one")
    refused(setup.device.send(other), 409)
    assert session.exec(select(Answer.value_num)).one() == 1.0


def test_edit_with_deprecated_id_is_an_audited_correction(setup: Setup, session: Session) -> None:
    first = fill(setup.form, {PLAN: "yes", LOANS: "4"}, "uuid:a")
    assert setup.device.send(first).status_code == 201
    edit = fill(setup.form, {PLAN: "no"}, "uuid:b", deprecated_id="uuid:a")
    assert setup.device.send(edit).status_code == 201
    session.expire_all()
    assert session.exec(select(Answer.value_num)).one() == 0.0
    # The edit left the rating blank: an edit replaces the whole form, so the rating is cleared.
    assert session.exec(select(CsfRating.rating)).all() == [None]
    corrections = session.exec(select(AuditEvent).where(AuditEvent.action == "answer_corrected")).all()
    assert [(c.before or {}).get("value_num") for c in corrections] == [1.0]
    assert session.exec(select(func.count()).select_from(Response)).one() == 1
    # Another edit of the copy already edited is out of date (ODK Central: 409), and changes nothing.
    stale = fill(setup.form, {PLAN: "yes"}, "uuid:c", deprecated_id="uuid:a")
    assert "out of date" in refused(setup.device.send(stale), 409)
    assert session.exec(select(Answer.value_num)).one() == 0.0
    refused(setup.device.send(fill(setup.form, {PLAN: "yes"}, "uuid:d", deprecated_id="uuid:never")), 404)


def test_refusals_are_openrosa_responses_and_keep_nothing(setup: Setup, session: Session, app: FastAPI) -> None:
    bad_value = fill(setup.form, {PLAN: "maybe"}, "uuid:bad")
    assert "yes or no" in refused(setup.device.send(bad_value), 422)
    entity = b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><data id="x"><a>&e;</a></data>'
    refused(setup.device.send(entity), 400)
    refused(setup.device.send(b"<data id='x'><meta><instanceID>uuid:x</instanceID></meta></data>"), 400)
    # No xml_submission_file part, or no multipart at all: an XML error as ODK Central gives, not JSON.
    body, content_type = multipart({"photo": ("photo.jpg", b"jpeg")})
    no_xml = setup.device.http.post(
        setup.device.server + "/submission", content=body, headers={**OPENROSA, "Content-Type": content_type}
    )
    assert "xml_submission_file" in refused(no_xml, 400)
    plain = setup.device.http.post(setup.device.server + "/submission", content=bad_value, headers=OPENROSA)
    refused(plain, 400)
    assert stored(session) == (0, 0, 0)


def test_a_bad_token_answers_401_with_a_challenge(setup: Setup, session: Session, app: FastAPI) -> None:
    xml = fill(setup.form, {PLAN: "yes"}, "uuid:t")
    unknown = Device(TestClient(app), "/openrosa/m/not-a-token", {})
    for reply in (unknown.get("/formList"), unknown.send(xml), unknown.get(f"/forms/{setup.round_id}")):
        assert "not valid" in refused(reply, 401)
        assert reply.headers["WWW-Authenticate"] == 'Bearer realm="ClusterScore", error="invalid_token"'
    # A revoked link is a bad token too.
    auth_service.revoke_member_links(session, setup.member.id or 0)
    session.commit()
    refused(setup.device.send(xml), 401)
    assert stored(session) == (0, 0, 0)


def test_the_openrosa_version_header_is_required(setup: Setup, session: Session) -> None:
    xml = fill(setup.form, {PLAN: "yes"}, "uuid:v")
    body, content_type = multipart({"xml_submission_file": ("submission.xml", xml)})
    without = setup.device.http.post(
        setup.device.server + "/submission", content=body, headers={"Content-Type": content_type}
    )
    assert "X-OpenRosa-Version" in refused(without, 400)
    assert "X-OpenRosa-Version" in refused(setup.device.http.get(setup.device.server + "/formList"), 400)
    wrong = setup.device.http.get(setup.device.server + "/formList", headers={"X-OpenRosa-Version": "2.0"})
    refused(wrong, 400)
    assert stored(session) == (0, 0, 0)


def test_the_announced_size_is_enforced(setup: Setup, session: Session) -> None:
    xml = fill(setup.form, {PLAN: "yes"}, "uuid:big")
    attachment = {"photo": ("photo.jpg", b"\0" * 60_000_000)}  # 60 MB against the 1 MB announced
    refused(setup.device.send(xml, chunked=False, extra=attachment), 413)
    # Sent in chunks without a Content-Length: refused as soon as it passes the limit.
    just_over = {"photo": ("photo.jpg", b"\0" * MAX_SUBMISSION_BYTES)}
    refused(setup.device.send(xml, chunked=True, extra=just_over), 413)
    assert stored(session) == (0, 0, 0)
    # Within the limit, an attachment is accepted (and not kept: the forms have no media questions).
    assert setup.device.send(xml, extra={"photo": ("photo.jpg", b"\0" * 1000)}).status_code == 201
    assert stored(session) == (1, 1, 1)


def test_an_instance_id_is_scoped_to_the_member(setup: Setup, session: Session, app: FastAPI) -> None:
    assert setup.device.send(fill(setup.form, {PLAN: "yes"}, "uuid:shared")).status_code == 201
    other = factories.participant(session, setup.cluster)
    other_device = _member_device(app, session, other)
    # The same instanceID from another member, with other answers: their own submission, nothing revealed.
    reply = other_device.send(fill(other_device.form(), {PLAN: "no"}, "uuid:shared"))
    assert reply.status_code == 201
    assert (
        ElementTree.fromstring(reply.content)[0].text
        == ElementTree.fromstring(setup.device.send(fill(setup.form, {PLAN: "yes"}, "uuid:fresh")).content)[0].text
    )
    session.expire_all()
    assert factories.stored_answers(session, setup.member.id or 0)[1]["business-marketing-plans"] == 1.0
    assert factories.stored_answers(session, other.id or 0)[1]["business-marketing-plans"] == 0.0


def test_a_personal_form_sent_for_another_member_is_refused(setup: Setup, session: Session) -> None:
    other = factories.participant(session, setup.cluster)
    session.commit()
    xml = fill(setup.form, {PLAN: "yes", "participant_id": str(other.id)}, "uuid:p")
    refused(setup.device.send(xml), 403)
    assert stored(session) == (0, 0, 0)


def test_an_older_form_version_is_taken_only_when_every_answer_maps(setup: Setup, session: Session) -> None:
    # The facilitator switches off a question after the member downloaded the form.
    cluster_service.update_kpi_settings(
        session, setup.cluster, "lean-manufacturing", KpiSettingsUpdate(active=False), actor="test"
    )
    session.commit()
    answered_gone = fill(setup.form, {PLAN: "yes", "k_lean_manufacturing": "yes"}, "uuid:old1")
    message = refused(setup.device.send(answered_gone), 404)
    assert "k_lean_manufacturing" in message and "new form" in message
    assert stored(session) == (0, 0, 0)
    # Leaving the removed question blank, the older instance maps unambiguously: accepted.
    assert setup.device.send(fill(setup.form, {PLAN: "yes"}, "uuid:old2")).status_code == 201
    assert factories.stored_answers(session, setup.member.id or 0)[1] == {"business-marketing-plans": 1.0}


def test_a_closed_round_is_not_listed_and_refuses_submissions(setup: Setup, session: Session) -> None:
    round_ = session.get(Round, setup.round_id)
    assert round_ is not None
    round_service.set_status(session, round_, RoundStatus.closed, actor="test")
    session.commit()
    assert ElementTree.fromstring(setup.device.get("/formList").content).findall(f"{FORMS}xform") == []
    refused(setup.device.send(fill(setup.form, {PLAN: "yes"}, "uuid:late")), 409)


# --- a staff device collecting for the cluster's members (enumerator) -------------------------------------


def basic(email: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{email}:{password}".encode()).decode()}


def test_a_staff_device_collects_for_any_member_of_the_cluster(setup: Setup, session: Session, app: FastAPI) -> None:
    facilitator = factories.user(session, grants=(("facilitator", setup.cluster),))
    other = factories.participant(session, setup.cluster, organisation="Chiang Mai Sauces")
    session.commit()
    staff = Device(
        TestClient(app), f"/openrosa/clusters/{setup.cluster.id}", basic(facilitator.email, factories.PASSWORD)
    )
    form = staff.form()
    members = next(i for i in form.iter(f"{XF}instance") if i.get("id") == "members")
    choices = {e.findtext(f"{XF}name") for e in members.iter(f"{XF}item")}
    assert {str(setup.member.id), str(other.id)} <= choices

    assert staff.send(fill(form, {PLAN: "no", "participant_id": str(other.id)}, "uuid:e1")).status_code == 201
    status, values = factories.stored_answers(session, other.id or 0)
    assert status == "submitted" and values["business-marketing-plans"] == 0.0
    actor = session.exec(select(AuditEvent.actor).where(AuditEvent.action == "odk_submission_received")).one()
    assert actor.startswith(f"user:{facilitator.id}:")
    # Which member is required, and must be one of this cluster's.
    assert "participant_id" in refused(staff.send(fill(form, {PLAN: "yes"}, "uuid:e2")), 400)
    stranger = factories.participant(session, factories.cluster(session))
    session.commit()
    refused(staff.send(fill(form, {PLAN: "yes", "participant_id": str(stranger.id)}, "uuid:e3")), 404)
    assert stored(session)[0] == 1


def test_a_staff_device_must_log_in_as_staff_who_manage_the_cluster(
    setup: Setup, session: Session, app: FastAPI
) -> None:
    programme = cluster_service.get_programme(session, setup.cluster.programme_id)
    users = {
        "admin": factories.user(session, is_admin=True),
        "agency": factories.user(session, grants=(("agency", programme),)),
        "facilitator": factories.user(session, grants=(("facilitator", setup.cluster),)),
        "observer": factories.user(session, grants=(("observer", setup.cluster),)),
        "outsider": factories.user(session, grants=(("facilitator", factories.cluster(session)),)),
    }
    token = factories.api_token(session, users["facilitator"])
    session.commit()
    server = f"/openrosa/clusters/{setup.cluster.id}"
    for role, user in users.items():
        reply = Device(TestClient(app), server, basic(user.email, factories.PASSWORD)).get("/formList")
        if role in ("admin", "agency", "facilitator"):
            assert reply.status_code == 200 and b"<formID>" in reply.content, role
        else:
            # Observers see no individual answers and may not enter them; another cluster looks like none.
            refused(reply, 404)
    facilitator = users["facilitator"].email
    for auth in (
        {},
        basic(facilitator, "wrong password"),
        {"Authorization": "Basic !!"},
        {"Authorization": f"Bearer {token}"},
    ):
        reply = Device(TestClient(app), server, auth).get("/formList")
        refused(reply, 401)
        assert reply.headers["WWW-Authenticate"] == 'Basic realm="ClusterScore"'
    refused(Device(TestClient(app), "/openrosa/clusters/abc", basic(facilitator, token)).get("/formList"), 404)
    # An API token works as the password (a device credential that can be revoked on its own).
    with_token = Device(TestClient(app), server, basic(facilitator, token)).get("/formList")
    assert with_token.status_code == 200 and b"<formID>" in with_token.content
    assert stored(session) == (0, 0, 0)


# --- the rule for changes, and who is asked what --------------------------------------------------


def test_an_edit_finished_before_a_newer_change_does_not_overwrite_it(setup: Setup, session: Session) -> None:
    """Collect's edits follow the one rule for changes: the form's `end` is when the change was made."""
    first = fill(setup.form, {PLAN: "yes", "end": "2026-12-01T10:00:00.000+07:00"}, "uuid:a")
    assert setup.device.send(first).status_code == 201
    response = session.exec(select(Response).where(Response.participant_id == setup.member.id)).one()
    # Corrected on the web at 11:00 (Bangkok), after the form was first sent.
    web = response_service.Change("web-00000001", datetime(2026, 12, 1, 4, 0, tzinfo=UTC), "on the web")
    draft = ResponseDraft(answers=[AnswerIn(kpi_key="business-marketing-plans", value=False)])
    scorecard = response_service.scorecard_for(session, response)
    response_service.save_change(session, response, draft, change=web, scorecard=scorecard, actor="t", locale="en")
    session.commit()
    # An edit the member had finished in Collect at 10:30 arrives only now: kept, not applied.
    edit = fill(setup.form, {PLAN: "yes", "end": "2026-12-01T10:30:00.000+07:00"}, "uuid:b", deprecated_id="uuid:a")
    assert setup.device.send(edit).status_code == 201
    session.expire_all()
    assert session.exec(select(Answer.value_num)).one() == 0.0
    superseded = session.exec(select(AuditEvent).where(AuditEvent.action == "answer_superseded")).all()
    assert [(e.after or {}).get("field") for e in superseded if (e.after or {}).get("value") == '"yes"'] == [
        "k.business-marketing-plans"
    ]
    # The same bytes again are the same change: nothing new.
    assert setup.device.send(edit).status_code == 201
    assert stored(session)[0] == 1


def test_questions_for_firms_are_asked_of_firms_only(setup: Setup, session: Session, app: FastAPI) -> None:
    institute = factories.participant(session, setup.cluster, organisation_type="research")
    own = ElementTree.tostring(_member_device(app, session, institute).form(), encoding="unicode")
    assert PLAN not in own and LOANS in own
    assert PLAN in ElementTree.tostring(setup.form, encoding="unicode")
    # A staff device's form asks it only when the member chosen is a firm.
    facilitator = factories.user(session, grants=(("facilitator", setup.cluster),))
    session.commit()
    staff = Device(
        TestClient(app), f"/openrosa/clusters/{setup.cluster.id}", basic(facilitator.email, factories.PASSWORD)
    )
    form = staff.form()
    bind = next(b for b in form.iter(f"{XF}bind") if b.get("nodeset", "").endswith(f"/{PLAN}"))
    assert "/firm = 'yes'" in (bind.get("relevant") or "")
    members = next(i for i in form.iter(f"{XF}instance") if i.get("id") == "members")
    firm_of = {e.findtext(f"{XF}name"): e.findtext(f"{XF}firm") for e in members.iter(f"{XF}item")}
    assert firm_of[str(institute.id)] == "no" and firm_of[str(setup.member.id)] == "yes"
    answered = fill(form, {PLAN: "yes", "participant_id": str(institute.id)}, "uuid:i1")
    assert "This question is for firms only." in refused(staff.send(answered), 422)
