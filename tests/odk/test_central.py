"""ClusterScore against a real ODK Central (`make test-odk`; docs/interop.md says how to bring one up).

ClusterScore's enumerator form is published to Central as ClusterScore serves it; a workshop's
submissions (tests/support/odk_scenario.py) go, in ODK Collect's format, to Central through an App User
and to ClusterScore through a staff device; a reviewer rejects one and flags another in Central; then
Central's three exports (CSV, CSV without group names, the .csv.zip of its download button) are imported
into ClusterScore, each onto a round of its own, and every imported answer is compared field by field
with what ClusterScore received directly. With ODK_FIXTURES_DIR set, the exports are saved there: the
regular suite imports those (tests/integration/interop/test_export_fixtures.py).
"""

import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from app.audit.models import AuditEvent
from app.interop.models import OdkSubmission
from tests import factories
from tests.integration.interop.test_openrosa import OPENROSA, basic, multipart
from tests.support import odk_scenario
from tests.support.odk_scenario import IMPORTED, SENT

CENTRAL = os.environ.get("ODK_CENTRAL_URL", "").rstrip("/")
FORMS = "{http://openrosa.org/xforms/xformsList}"
EXPORTS = {"central.csv": ".csv", "central-no-groups.csv": ".csv?groupPaths=false", "central.csv.zip": ".csv.zip"}

pytestmark = pytest.mark.skipif(
    not CENTRAL,
    reason="no ODK Central to test against: set ODK_CENTRAL_URL, ODK_CENTRAL_EMAIL and ODK_CENTRAL_PASSWORD "
    "(docs/interop.md says how to run one on this machine)",
)


@pytest.fixture
def central() -> Iterator[httpx.Client]:
    """Central's API as its web app uses it, logged in as the administrator given in the environment."""
    with httpx.Client(base_url=f"{CENTRAL}/v1", timeout=60) as http:
        login = {"email": os.environ["ODK_CENTRAL_EMAIL"], "password": os.environ["ODK_CENTRAL_PASSWORD"]}
        token = http.post("/sessions", json=login).raise_for_status().json()["token"]
        http.headers["Authorization"] = f"Bearer {token}"
        yield http


def _send(http: httpx.Client | TestClient, url: str, xml: bytes, headers: dict[str, str]) -> httpx.Response:
    body, content_type = multipart({"xml_submission_file": ("submission.xml", xml)})
    return http.post(url, content=body, headers={**OPENROSA, **headers, "Content-Type": content_type})


def test_central_exports_import_into_clusterscore(central: httpx.Client, app: FastAPI, session: Session) -> None:
    setting = odk_scenario.workshop(session, rounds=4)
    direct, *imported_into = setting.rounds
    staff = TestClient(app)
    device = f"/openrosa/clusters/{setting.cluster.id}"
    auth = basic(setting.facilitator.email, factories.PASSWORD)

    # The form as a staff device gets it from ClusterScore, published to Central byte for byte.
    form_id = f"clusterscore_c{setting.cluster.id}_r{direct.id}"
    listing = ElementTree.fromstring(
        staff.get(f"{device}/formList", params={"formID": form_id}, headers={**OPENROSA, **auth}).content
    )
    (entry,) = listing
    xform = staff.get(entry.findtext(f"{FORMS}downloadUrl") or "", headers={**OPENROSA, **auth}).content
    project = (
        central.post("/projects", json={"name": f"ClusterScore interop {uuid.uuid4().hex[:8]}"})
        .raise_for_status()
        .json()["id"]
    )
    published = central.post(
        f"/projects/{project}/forms",
        params={"publish": "true"},
        content=xform,
        headers={"Content-Type": "application/xml"},
    )
    assert published.status_code == 200, published.text
    assert published.json()["version"] == entry.findtext(f"{FORMS}version")

    # A phone set up with a Central App User lists the same form, with the same hash.
    app_user = (
        central.post(f"/projects/{project}/app-users", json={"displayName": "Workshop phone"}).raise_for_status().json()
    )
    central.post(f"/projects/{project}/forms/{form_id}/assignments/app-user/{app_user['id']}").raise_for_status()
    phone = f"{CENTRAL}/v1/key/{app_user['token']}/projects/{project}"
    (central_entry,) = ElementTree.fromstring(central.get(f"{phone}/formList", headers=OPENROSA).content)
    assert (
        central_entry.findtext(f"{FORMS}hash")
        == entry.findtext(f"{FORMS}hash")
        == f"md5:{hashlib.md5(xform).hexdigest()}"
    )

    # The workshop's submissions, to both.
    form = ElementTree.fromstring(xform)
    for sent in SENT:
        xml = odk_scenario.instance(form, sent, setting.members)
        assert _send(central, f"{phone}/submission", xml, {}).status_code == 201
        expected = 422 if sent.member == 4 else 201  # Central does not check constraints; ClusterScore does
        assert _send(staff, f"{device}/submission", xml, auth).status_code == expected
    for sent in SENT:
        if sent.review:
            review = {"reviewState": sent.review}
            central.patch(
                f"/projects/{project}/forms/{form_id}/submissions/{sent.instance_id}", json=review
            ).raise_for_status()

    # Central's exports, imported into ClusterScore: each the same per-row report, the same answers.
    exports = {
        name: central.get(f"/projects/{project}/forms/{form_id}/submissions{path}").raise_for_status().content
        for name, path in EXPORTS.items()
    }
    _save(exports)
    admin = TestClient(app, headers={"Authorization": f"Bearer {factories.api_token(session, setting.facilitator)}"})
    session.commit()
    for (name, content), round_ in zip(exports.items(), imported_into, strict=True):
        report = _import(admin, round_.id or 0, name, content)
        odk_scenario.assert_report(report, name)
        for index in IMPORTED:
            member = setting.members[index].id or 0
            got = odk_scenario.answers(session, round_.id or 0, member)
            assert got == odk_scenario.answers(session, direct.id or 0, member), (name, index)
        for index in (2, 4):  # rejected in Central; refused by ClusterScore's rules
            assert odk_scenario.answers(session, round_.id or 0, setting.members[index].id or 0) == {}
        # The same file again changes nothing.
        before = _counts(session)
        again = _import(admin, round_.id or 0, name, content, dry_runs=False)
        assert again["accepted"] == 0 and _counts(session) == before
        assert {
            r["reasons"][0]
            for r in again["report"]
            if r["outcome"] == "skipped" and r["participant"] in ("1", "2", "4")
        } >= {"Already imported: the same submission was imported before."}


def _import(
    client: TestClient, round_id: int, name: str, content: bytes, *, dry_runs: bool = True
) -> dict[str, object]:
    """The dry run's report, then the import's: the same but for `written`."""
    url = f"/api/v1/rounds/{round_id}/imports"
    preview = client.post(url, params={"dry_run": "true"}, files={"file": (name, content)}) if dry_runs else None
    done = client.post(url, params={"dry_run": "false"}, files={"file": (name, content)})
    assert done.status_code == 200, done.text
    report: dict[str, object] = done.json()
    if preview is not None:
        assert preview.status_code == 200
        assert {**preview.json(), "written": True} == report
    return report


def _counts(session: Session) -> tuple[int, int]:
    session.commit()
    return (
        session.exec(select(func.count()).select_from(OdkSubmission)).one(),
        session.exec(select(func.count()).select_from(AuditEvent)).one(),
    )


def _save(exports: dict[str, bytes]) -> None:
    folder = os.environ.get("ODK_FIXTURES_DIR")
    if folder:
        for name, content in exports.items():
            (Path(folder) / name).write_bytes(content)
