"""OpenRosa over HTTP exactly as ODK Collect speaks it: formList, form download, HEAD then a chunked
multipart POST of xml_submission_file; deduplication on meta/instanceID and edits with deprecatedID."""

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from xml.etree import ElementTree

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from app.audit.models import AuditEvent
from app.auth import service as auth_service
from app.clusters import service as cluster_service
from app.interop.models import OdkSubmission
from app.responses.models import Answer, CsfRating, Response
from tests import factories

OPENROSA = {"X-OpenRosa-Version": "1.0"}
XF = "{http://www.w3.org/2002/xforms}"
FORMS = "{http://openrosa.org/xforms/xformsList}"


@dataclass
class Device:
    """A phone running ODK Collect, set up with the member's server URL."""

    http: TestClient
    server: str

    def get(self, path: str) -> object:
        return self.http.get(self.server + path, headers=OPENROSA)

    def send(self, xml: bytes, *, chunked: bool = True) -> object:
        boundary = uuid.uuid4().hex
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="xml_submission_file"; '
                f'filename="submission.xml"\r\nContent-Type: text/xml\r\n\r\n'
            ).encode()
            + xml
            + f"\r\n--{boundary}--\r\n".encode()
        )

        def chunks() -> Iterator[bytes]:
            for start in range(0, len(body), 100):
                yield body[start : start + 100]

        headers = {**OPENROSA, "Content-Type": f"multipart/form-data; boundary={boundary}"}
        return self.http.post(self.server + "/submission", content=chunks() if chunked else body, headers=headers)


@dataclass
class Setup:
    device: Device
    round_id: int
    participant_id: int
    form: ElementTree.Element


def _fill(form: ElementTree.Element, values: dict[str, str], instance_id: str, deprecated_id: str = "") -> bytes:
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
    return ElementTree.tostring(root, encoding="utf-8")


@pytest.fixture
def setup(app: FastAPI, session: Session) -> Setup:
    cluster = factories.cluster(session)
    member = factories.participant(session, cluster)
    round_ = factories.open_round(session, cluster)
    token = auth_service.issue_member_link(session, member.id or 0)
    session.commit()
    device = Device(TestClient(app), f"/openrosa/m/{token}")
    listing = device.get("/formList")
    url = ElementTree.fromstring(listing.content).find(f"{FORMS}xform/{FORMS}downloadUrl").text  # type: ignore[union-attr]
    form = ElementTree.fromstring(device.http.get(url, headers=OPENROSA).content)
    return Setup(device=device, round_id=round_.id or 0, participant_id=member.id or 0, form=form)


def _headers_ok(reply: object) -> None:
    assert reply.headers["X-OpenRosa-Version"] == "1.0"  # type: ignore[attr-defined]
    assert reply.headers["Date"].endswith("GMT")  # type: ignore[attr-defined]


def test_form_list_and_download(setup: Setup, session: Session) -> None:
    listing = setup.device.get("/formList")
    assert listing.status_code == 200  # type: ignore[attr-defined]
    _headers_ok(listing)
    root = ElementTree.fromstring(listing.content)  # type: ignore[attr-defined]
    assert root.tag == f"{FORMS}xforms"
    (entry,) = root.findall(f"{FORMS}xform")
    form_id = entry.findtext(f"{FORMS}formID")
    assert form_id and form_id.endswith(f"_r{setup.round_id}")
    download = setup.device.http.get(entry.findtext(f"{FORMS}downloadUrl") or "", headers=OPENROSA)
    _headers_ok(download)
    assert entry.findtext(f"{FORMS}hash") == "md5:" + hashlib.md5(download.content).hexdigest()
    assert entry.findtext(f"{FORMS}version")
    assert next(setup.form.iter(f"{XF}model")) is not None


def test_head_then_chunked_post_lands_in_responses_once(setup: Setup, session: Session) -> None:
    probe = setup.device.http.head(setup.device.server + "/submission", headers=OPENROSA)
    assert probe.status_code == 204
    _headers_ok(probe)
    assert int(probe.headers["X-OpenRosa-Accept-Content-Length"]) > 0

    xml = _fill(setup.form, {"k_business_marketing_plans": "yes", "r_ease_of_access_to_loans": "4"}, "uuid:one")
    reply = setup.device.send(xml)
    assert reply.status_code == 201, reply.text  # type: ignore[attr-defined]
    _headers_ok(reply)
    message = ElementTree.fromstring(reply.content)  # type: ignore[attr-defined]
    assert message.tag == "{http://openrosa.org/http/response}OpenRosaResponse"
    assert message[0].get("nature") == "submit_success"

    response = session.exec(select(Response).where(Response.participant_id == setup.participant_id)).one()
    assert response.status == "submitted"
    answers = {a.kpi_key: a.value_num for a in session.exec(select(Answer).where(Answer.response_id == response.id))}
    assert answers == {"business-marketing-plans": 1.0}
    rating = session.exec(select(CsfRating).where(CsfRating.response_id == response.id)).one()
    assert (rating.csf_key, rating.rating) == ("ease-of-access-to-loans", 4)
    actions = set(session.exec(select(AuditEvent.action).where(AuditEvent.entity_id == response.id)))
    assert {"response_submitted", "odk_submission_received"} <= actions

    # Collect lost the reply and sends the same bytes again: accepted, nothing new.
    again = setup.device.send(xml, chunked=False)
    assert again.status_code == 202
    _headers_ok(again)
    assert session.exec(select(func.count()).select_from(OdkSubmission)).one() == 1
    assert session.exec(select(func.count()).select_from(Answer)).one() == 1

    # Other bytes under the same instanceID: a conflict, nothing changed.
    other = _fill(setup.form, {"k_business_marketing_plans": "no"}, "uuid:one")
    conflict = setup.device.send(other)
    assert conflict.status_code == 409
    _headers_ok(conflict)
    session.expire_all()
    assert session.exec(select(Answer.value_num)).one() == 1.0


def test_edit_with_deprecated_id_is_an_audited_correction(setup: Setup, session: Session) -> None:
    first = _fill(setup.form, {"k_business_marketing_plans": "yes", "r_ease_of_access_to_loans": "4"}, "uuid:a")
    assert setup.device.send(first).status_code == 201
    edit = _fill(setup.form, {"k_business_marketing_plans": "no"}, "uuid:b", deprecated_id="uuid:a")
    assert setup.device.send(edit).status_code == 201
    session.expire_all()
    assert session.exec(select(Answer.value_num)).one() == 0.0
    # The edit left the rating blank: an edit replaces the whole form, so the rating is cleared.
    assert session.exec(select(CsfRating.rating)).all() == [None]
    corrections = session.exec(select(AuditEvent).where(AuditEvent.action == "answer_corrected")).all()
    assert [(c.before or {}).get("value_num") for c in corrections] == [1.0]
    assert session.exec(select(func.count()).select_from(Response)).one() == 1


def test_refusals_keep_nothing(setup: Setup, session: Session, app: FastAPI) -> None:
    bad_value = _fill(setup.form, {"k_business_marketing_plans": "maybe"}, "uuid:bad")
    refused = setup.device.send(bad_value)
    assert refused.status_code == 422
    _headers_ok(refused)
    assert ElementTree.fromstring(refused.content)[0].get("nature") == "error"  # type: ignore[attr-defined]
    entity = b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><data id="x"><a>&e;</a></data>'
    assert setup.device.send(entity).status_code == 400
    assert setup.device.send(b"<data id='x'><meta><instanceID>uuid:x</instanceID></meta></data>").status_code == 400
    unknown = Device(TestClient(app), "/openrosa/m/not-a-token")
    assert unknown.get("/formList").status_code == 404  # type: ignore[attr-defined]
    assert unknown.send(bad_value).status_code == 404
    session.expire_all()
    assert session.exec(select(func.count()).select_from(Response)).one() == 0
    assert session.exec(select(func.count()).select_from(OdkSubmission)).one() == 0


def test_a_closed_round_is_not_listed(setup: Setup, session: Session) -> None:
    from app.rounds import service as round_service
    from app.rounds.models import Round
    from app.rounds.schemas import RoundStatus

    round_ = session.get(Round, setup.round_id)
    assert round_ is not None
    round_service.set_status(session, round_, RoundStatus.closed, actor="test")
    session.commit()
    listing = setup.device.get("/formList")
    assert ElementTree.fromstring(listing.content).findall(f"{FORMS}xform") == []  # type: ignore[attr-defined]
    assert cluster_service is not None
