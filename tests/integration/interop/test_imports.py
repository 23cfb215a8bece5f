"""Importing answers collected elsewhere, row by row: ClusterScore's own table, exports with the form's
field names, and what is refused for the whole file. Real Central and Kobo exports: test_export_fixtures.py."""

import io
import zipfile

import httpx
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from app.audit.models import AuditEvent
from app.clusters.models import Cluster, Participant
from app.interop.models import OdkSubmission
from app.rounds.models import Round
from tests import factories

PLAN = "business-marketing-plans"  # yes/no, member level, CSF ease-of-access-to-loans (perspective financial)
LEAN = "lean-manufacturing"  # yes/no, member level, CSF cost-control


def _setup(session: Session) -> tuple[Cluster, Round, Participant, Participant]:
    cluster = factories.cluster(session)
    round_ = factories.open_round(session, cluster)
    a = factories.participant(session, cluster, organisation="Mae Ploy Foods")
    b = factories.participant(session, cluster, organisation="Chiang Mai Sauces")
    session.commit()
    return cluster, round_, a, b


def _post(
    client: TestClient, round_: Round, content: bytes, *, name: str = "answers.csv", dry_run: bool
) -> httpx.Response:
    return client.post(
        f"/api/v1/rounds/{round_.id}/imports",
        params={"dry_run": str(dry_run).lower()},
        files={"file": (name, content, "application/octet-stream")},
    )


def _outcomes(report: dict[str, object]) -> dict[int, tuple[str, list[str]]]:
    return {r["row"]: (r["outcome"], r["reasons"]) for r in report["report"]}  # type: ignore[attr-defined]


def _written(session: Session) -> int:
    session.commit()
    return session.exec(select(func.count()).select_from(OdkSubmission)).one()


def test_plain_table_is_previewed_then_written_as_submitted_responses(
    admin_client: TestClient, session: Session
) -> None:
    _cluster, round_, a, b = _setup(session)
    csv = (
        f"participant_id,{PLAN},{LEAN},rating:ease-of-access-to-loans,comment:ease-of-access-to-loans\n"
        f"{a.id},yes,no,4,Banks know us now\n"
        f"{b.id},no,,2,\n"
    ).encode()

    preview = _post(admin_client, round_, csv, dry_run=True)
    assert preview.status_code == 200, preview.text
    report = preview.json()
    assert report["format"] == "ClusterScore table: participant, KPI keys, rating: and comment: columns"
    assert (report["rows"], report["accepted"], report["skipped"], report["written"]) == (2, 2, 0, False)
    assert factories.stored_answers(session, a.id or 0) == (None, {})

    done = _post(admin_client, round_, csv, dry_run=False)
    assert done.json() == {**report, "written": True}
    status, values = factories.stored_answers(session, a.id or 0)
    assert status == "submitted"
    assert values[PLAN] == 1.0 and values[LEAN] == 0.0
    assert values["r.ease-of-access-to-loans"] == 4 and values["c.ease-of-access-to-loans"] == "Banks know us now"
    status_b, values_b = factories.stored_answers(session, b.id or 0)
    assert status_b == "submitted" and values_b[PLAN] == 0.0 and LEAN not in values_b
    actions = set(session.exec(select(AuditEvent.action)))
    assert {"response_submitted", "answers_imported"} <= actions

    # The same file again: every row was imported before, nothing changes.
    before = (_written(session), session.exec(select(func.count()).select_from(AuditEvent)).one())
    again = _post(admin_client, round_, csv, dry_run=False).json()
    assert again["accepted"] == 0 and again["written"] is False
    assert {reasons[0] for _outcome, reasons in _outcomes(again).values()} == {
        "Already imported: the same submission was imported before."
    }
    assert (_written(session), session.exec(select(func.count()).select_from(AuditEvent)).one()) == before


def test_a_bad_row_is_skipped_with_its_reasons_and_the_others_imported(
    admin_client: TestClient, session: Session
) -> None:
    _cluster, round_, a, b = _setup(session)
    csv = f"organisation,{PLAN},rating:cost-control\nMae Ploy Foods,yes,3\nchiang mai sauces,maybe,9\n".encode()

    preview = _post(admin_client, round_, csv, dry_run=True).json()
    assert _outcomes(preview) == {
        2: ("accepted", []),
        3: (
            "skipped",
            [
                f"Question {PLAN}: Please answer yes or no.",
                "Question rating:cost-control: Please choose a rating from 1 to 5.",
            ],
        ),
    }
    done = _post(admin_client, round_, csv, dry_run=False).json()
    assert done == {**preview, "written": True}
    assert factories.stored_answers(session, a.id or 0)[1] == {PLAN: 1.0, "r.cost-control": 3, "c.cost-control": ""}
    assert factories.stored_answers(session, b.id or 0) == (None, {})


def test_unknown_participants_are_skipped_and_the_newest_row_of_a_member_counts(
    admin_client: TestClient, session: Session
) -> None:
    _cluster, round_, a, b = _setup(session)
    other = factories.participant(session, factories.cluster(session), organisation="Elsewhere Ltd")
    session.commit()
    csv = f"participant_id,{PLAN}\n{a.id},yes\n999999,yes\n{other.id},no\n{a.id},no\n,yes\n{b.id},\n".encode()

    report = _post(admin_client, round_, csv, dry_run=False).json()
    unknown = ["Unknown participant: not an active participant of this cluster."]
    assert _outcomes(report) == {
        # Without submission times, the first row of a member is taken (ODK Central lists newest first).
        2: ("accepted", []),
        3: ("skipped", unknown),
        4: ("skipped", unknown),
        5: ("skipped", ["An older submission of this member: row 2 is newer and is the one imported."]),
        6: ("skipped", ["No participant given."]),
        7: ("skipped", ["The row has no answers."]),
    }
    assert factories.stored_answers(session, a.id or 0)[1] == {PLAN: 1.0}


def test_an_export_with_the_forms_field_names_and_submission_times(admin_client: TestClient, session: Session) -> None:
    _cluster, round_, a, b = _setup(session)
    csv = (
        "participant_id,p_financial/k_business_marketing_plans,p_financial/r_cost_control,"
        "p_financial/c_cost_control,colour,_submission_time,meta/instanceID\n"
        f"{a.id},no,2,,red,2026-05-02T10:00:00,uuid:newer\n"
        f"{a.id},yes,4,Better,blue,2026-05-01T10:00:00,uuid:older\n"
        f"{b.id},,,,,2026-05-01T11:00:00,uuid:empty\n"
        f"{b.id},,x,,,2026-05-01T12:00:00,uuid:bad\n"
    ).encode()
    report = _post(admin_client, round_, csv, name="kobo.csv", dry_run=False).json()
    assert report["format"] == "KoboToolbox CSV export, XML values and headers"
    assert report["ignored_columns"] == ["colour"]
    assert report["columns"] == {
        "instance_id": "meta/instanceID",
        "submitted_at": "_submission_time",
        "participant": "participant_id",
    }
    # By submission time: the row of 2 May is newer than the one after it, of 1 May.
    assert _outcomes(report) == {
        2: ("accepted", []),
        3: ("skipped", ["An older submission of this member: row 2 is newer and is the one imported."]),
        4: ("skipped", ["An older submission of this member: row 5 is newer and is the one imported."]),
        5: ("skipped", ["r_cost_control: 'x' is not a point of the rating scale."]),
    }
    assert factories.stored_answers(session, a.id or 0)[1] == {PLAN: 0.0, "r.cost-control": 2, "c.cost-control": ""}


def test_central_zip_takes_the_main_csv_and_leaves_repeats_and_media_aside(
    admin_client: TestClient, session: Session
) -> None:
    _cluster, round_, a, _b = _setup(session)
    main = (
        "SubmissionDate,participant_id,p_financial-k_business_marketing_plans,meta-instanceID,KEY,ReviewState\n"
        f"2026-05-02T10:00:00.000Z,{a.id},yes,uuid:z1,uuid:z1,approved\n"
    )
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("form.csv", main)
        z.writestr("form-visits.csv", "when,PARENT_KEY,KEY\n2026,uuid:z1,uuid:z1/visits[1]\n")
        z.writestr("media/photo.jpg", b"jpeg")
    report = _post(admin_client, round_, archive.getvalue(), name="form.csv.zip", dry_run=False).json()
    assert report["format"] == "ODK Central .csv.zip export, group names in the headers"
    assert report["ignored_files"] == ["form-visits.csv", "media/photo.jpg"]
    assert report["accepted"] == 1 and factories.stored_answers(session, a.id or 0)[1] == {PLAN: 1.0}

    two = io.BytesIO()
    with zipfile.ZipFile(two, "w") as z:
        z.writestr("form.csv", main)
        z.writestr("other.csv", main)
    refused = _post(admin_client, round_, two.getvalue(), name="x.csv.zip", dry_run=True)
    assert refused.status_code == 422 and "several CSV files" in refused.json()["detail"]


def test_files_that_cannot_be_read_are_refused_whole_and_change_nothing(
    admin_client: TestClient, session: Session
) -> None:
    _cluster, round_, a, _b = _setup(session)
    refusals = {
        f"{PLAN}\nyes\n".encode(): "participant_id or organisation",
        f"participant_id,colour\n{a.id},red\n".encode(): "colour",
        f'participant_id,{PLAN}\n{a.id},"yes\n'.encode(): "cannot be read",
        f"participant_id,comment:cost-control\n{a.id},{'x' * 140_000}\n".encode(): "cannot be read",
        b"PK\x03\x04 not a zip": "neither a readable XLSX workbook nor a ZIP file",
        "participant_id\n1\n".encode("utf-16"): "UTF-8",
    }
    for content, expected in refusals.items():
        reply = _post(admin_client, round_, content, dry_run=False)
        assert reply.status_code == 422 and expected in reply.json()["detail"], reply.text
    assert admin_client.post(f"/api/v1/rounds/{round_.id}/imports").status_code == 422
    assert _written(session) == 0


def test_a_csv_the_reader_cannot_read_is_refused_plainly(admin_client: TestClient, session: Session) -> None:
    """A cell over Python's csv field limit (131,072 characters), or a quote never closed that swallows the
    rest of the file into one cell, is a 422 with a plain message, not a 500; nothing is written."""
    _cluster, round_, a, _b = _setup(session)
    long_cell = f"participant_id,comment:cost-control\n{a.id},{'x' * 131_073}\n".encode()
    open_quote = f'participant_id,comment:cost-control\n{a.id},"never closed\n'.encode() + b"y," * 70_000
    for content in (long_cell, open_quote):
        refused = _post(admin_client, round_, content, dry_run=False)
        assert refused.status_code == 422, refused.text  # type: ignore[attr-defined]
        assert "cannot be read" in refused.json()["detail"]  # type: ignore[attr-defined]
    assert factories.stored_answers(session, a.id) == (None, {})  # type: ignore[arg-type]
    # One character under the limit is read (and refused only for what the cell says, if anything).
    fits = f"participant_id,comment:cost-control\n{a.id},{'x' * 131_072}\n".encode()
    assert "cannot be read" not in _post(admin_client, round_, fits, dry_run=True).text  # type: ignore[attr-defined]
