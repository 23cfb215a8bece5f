"""Real exports imported: ODK Central's (made by `make test-odk`, tests/fixtures/interop/README.md) and
KoboToolbox's (built from its export code, tests/support/kobo_exports.py), in every layout, with the
expected per-row report, the same answers as the same submissions sent straight to ClusterScore, and
nothing changed by importing the same file again."""

from pathlib import Path
from xml.etree import ElementTree

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from app.audit.models import AuditEvent
from app.interop.models import OdkSubmission
from app.responses.models import Answer
from tests import factories
from tests.integration.interop.test_openrosa import FORMS, OPENROSA, basic, multipart
from tests.support import odk_scenario
from tests.support.odk_scenario import IMPORTED, SENT

FIXTURES = Path(__file__).parents[2] / "fixtures" / "interop"


def _counts(session: Session) -> tuple[int, int, int]:
    session.commit()
    return tuple(  # type: ignore[return-value]
        session.exec(select(func.count()).select_from(table)).one() for table in (OdkSubmission, Answer, AuditEvent)
    )


@pytest.mark.parametrize("name", list(odk_scenario.FORMATS))
def test_export_imports_row_by_row_like_the_submissions_sent_directly(
    name: str, app: FastAPI, session: Session
) -> None:
    setting = odk_scenario.workshop(session, rounds=2)
    direct, imported = setting.rounds
    token = factories.api_token(session, setting.facilitator)
    session.commit()
    # The same submissions, sent straight to ClusterScore from a staff device.
    device = TestClient(app)
    server = f"/openrosa/clusters/{setting.cluster.id}"
    auth = {**OPENROSA, **basic(setting.facilitator.email, factories.PASSWORD)}
    listing = device.get(
        f"{server}/formList", params={"formID": f"clusterscore_c{setting.cluster.id}_r{direct.id}"}, headers=auth
    )
    form = ElementTree.fromstring(
        device.get(
            ElementTree.fromstring(listing.content).findtext(f"{FORMS}xform/{FORMS}downloadUrl") or "", headers=auth
        ).content
    )
    for sent in SENT:
        body, content_type = multipart(
            {"xml_submission_file": ("submission.xml", odk_scenario.instance(form, sent, setting.members))}
        )
        device.post(f"{server}/submission", content=body, headers={**auth, "Content-Type": content_type})

    staff = TestClient(app, headers={"Authorization": f"Bearer {token}"})
    url = f"/api/v1/rounds/{imported.id}/imports"
    content = (FIXTURES / name).read_bytes()
    before = _counts(session)
    preview = staff.post(url, params={"dry_run": "true"}, files={"file": (name, content)})
    assert preview.status_code == 200, preview.text
    odk_scenario.assert_report(preview.json(), name)
    assert preview.json()["written"] is False and _counts(session) == before

    done = staff.post(url, params={"dry_run": "false"}, files={"file": (name, content)})
    assert done.json() == {**preview.json(), "written": True}
    for index in IMPORTED:
        member = setting.members[index].id or 0
        assert odk_scenario.answers(session, imported.id or 0, member) == odk_scenario.answers(
            session, direct.id or 0, member
        )
    for index in (2, 4):  # rejected by a reviewer; a value ClusterScore refuses
        assert odk_scenario.answers(session, imported.id or 0, setting.members[index].id or 0) == {}

    after = _counts(session)
    again = staff.post(url, params={"dry_run": "false"}, files={"file": (name, content)}).json()
    assert again["accepted"] == 0 and again["written"] is False and _counts(session) == after
    reasons = {r["reasons"][0] for r in again["report"] if r["outcome"] == "skipped"}
    assert "Already imported: the same submission was imported before." in reasons
