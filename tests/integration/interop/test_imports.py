"""Importing answers collected elsewhere: a plain CSV, ODK Central / KoboToolbox CSV and XLSX exports."""

import io

import openpyxl
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.audit.models import AuditEvent
from app.clusters.models import Cluster, Participant
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


def _post(client: TestClient, round_: Round, content: bytes, *, name: str = "answers.csv", dry_run: bool) -> object:
    return client.post(
        f"/api/v1/rounds/{round_.id}/imports",
        params={"dry_run": str(dry_run).lower()},
        files={"file": (name, content, "application/octet-stream")},
    )


def test_plain_csv_is_previewed_then_written_as_submitted_responses(admin_client: TestClient, session: Session) -> None:
    _cluster, round_, a, b = _setup(session)
    csv = (
        f"participant_id,{PLAN},{LEAN},rating:ease-of-access-to-loans,comment:ease-of-access-to-loans\n"
        f"{a.id},yes,no,4,Banks know us now\n"
        f"{b.id},no,,2,\n"
    ).encode()

    preview = _post(admin_client, round_, csv, dry_run=True)
    assert preview.status_code == 200, preview.text  # type: ignore[attr-defined]
    assert preview.json() == {"rows": 2, "accepted": 2, "rejected": [], "written": False}  # type: ignore[attr-defined]
    assert factories.stored_answers(session, a.id) == (None, {})  # type: ignore[arg-type]

    done = _post(admin_client, round_, csv, dry_run=False)
    assert done.status_code == 200 and done.json()["written"] is True  # type: ignore[attr-defined]
    status, values = factories.stored_answers(session, a.id)  # type: ignore[arg-type]
    assert status == "submitted"
    assert values[PLAN] == 1.0 and values[LEAN] == 0.0
    assert values["r.ease-of-access-to-loans"] == 4 and values["c.ease-of-access-to-loans"] == "Banks know us now"
    status_b, values_b = factories.stored_answers(session, b.id)  # type: ignore[arg-type]
    assert status_b == "submitted" and values_b[PLAN] == 0.0 and LEAN not in values_b
    actions = set(session.exec(select(AuditEvent.action)))
    assert {"response_submitted", "answers_imported"} <= actions


def test_one_bad_row_is_reported_and_nothing_is_written(admin_client: TestClient, session: Session) -> None:
    _cluster, round_, a, b = _setup(session)
    csv = (f"organisation,{PLAN},rating:cost-control\nMae Ploy Foods,yes,3\nchiang mai sauces,maybe,9\n").encode()

    for dry_run in (True, False):
        reply = _post(admin_client, round_, csv, dry_run=dry_run)
        assert reply.status_code == 422  # type: ignore[attr-defined]
        report = reply.json()  # type: ignore[attr-defined]
        assert report["rows"] == 2 and report["accepted"] == 1 and report["written"] is False
        assert report["rejected"] == [
            {
                "row": 3,
                "participant": "chiang mai sauces",
                "problems": [
                    f"{PLAN}: Please answer yes or no.",
                    "rating:cost-control: Please choose a rating from 1 to 5.",
                ],
            }
        ]
    assert factories.stored_answers(session, a.id) == (None, {})  # type: ignore[arg-type]
    assert factories.stored_answers(session, b.id) == (None, {})  # type: ignore[arg-type]


def test_unknown_participant_and_duplicate_rows_are_rejected(admin_client: TestClient, session: Session) -> None:
    cluster, round_, a, _b = _setup(session)
    other = factories.participant(session, factories.cluster(session), organisation="Elsewhere Ltd")
    session.commit()
    csv = f"participant_id,{PLAN}\n{a.id},yes\n999999,yes\n{other.id},no\n{a.id},no\n".encode()

    report = _post(admin_client, round_, csv, dry_run=False).json()  # type: ignore[attr-defined]
    assert report["written"] is False and report["accepted"] == 1
    problems = {r["row"]: r["problems"] for r in report["rejected"]}
    assert problems[3] == ["Unknown participant: not an active participant of this cluster."]
    assert problems[4] == ["Unknown participant: not an active participant of this cluster."]
    assert problems[5] == ["Duplicate: this participant is already on row 2."]
    assert factories.stored_answers(session, a.id) == (None, {})  # type: ignore[arg-type]
    assert cluster.id is not None


def test_odk_central_csv_export_with_group_columns(admin_client: TestClient, session: Session) -> None:
    _cluster, round_, a, b = _setup(session)
    csv = (
        "SubmissionDate,participant_id,p_financial/k_business_marketing_plans,"
        "p_financial/r_ease_of_access_to_loans,p_financial/c_ease_of_access_to_loans,"
        "p_financial/r_cost_control,meta/instanceID,KEY\n"
        f"2026-05-02T10:00:00Z,{a.id},yes,5,Good,3,uuid:1,uuid:1\n"
        f"2026-05-02T11:00:00Z,{b.id},no,2,,,uuid:2,uuid:2\n"
    ).encode()
    reply = _post(admin_client, round_, csv, dry_run=False)
    assert reply.status_code == 200, reply.text  # type: ignore[attr-defined]
    status, values = factories.stored_answers(session, a.id)  # type: ignore[arg-type]
    assert status == "submitted" and values[PLAN] == 1.0
    assert values["r.ease-of-access-to-loans"] == 5 and values["c.ease-of-access-to-loans"] == "Good"
    assert values["r.cost-control"] == 3
    _status, values_b = factories.stored_answers(session, b.id)  # type: ignore[arg-type]
    assert values_b[PLAN] == 0.0 and "r.cost-control" not in values_b


def test_kobo_xlsx_export_with_bare_field_names(admin_client: TestClient, session: Session) -> None:
    _cluster, round_, a, _b = _setup(session)
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(
        ["_id", "organisation", "k_business_marketing_plans", "k_lean_manufacturing", "r_cost_control", "_uuid"]
    )
    sheet.append([17, "Mae Ploy Foods", "yes", "maybe", 4, "abc"])
    out = io.BytesIO()
    book.save(out)

    bad = _post(admin_client, round_, out.getvalue(), name="export.xlsx", dry_run=True)
    assert bad.status_code == 422  # type: ignore[attr-defined]
    assert bad.json()["rejected"][0]["problems"] == [f"{LEAN}: Please answer yes or no."]  # type: ignore[attr-defined]

    sheet["D2"] = "no"
    out = io.BytesIO()
    book.save(out)
    good = _post(admin_client, round_, out.getvalue(), name="export.xlsx", dry_run=False)
    assert good.status_code == 200 and good.json()["written"] is True  # type: ignore[attr-defined]
    status, values = factories.stored_answers(session, a.id)  # type: ignore[arg-type]
    assert status == "submitted" and values[PLAN] == 1.0 and values[LEAN] == 0.0 and values["r.cost-control"] == 4


def test_a_file_without_participant_column_or_with_stray_columns_is_refused(
    admin_client: TestClient, session: Session
) -> None:
    _cluster, round_, a, _b = _setup(session)
    assert _post(admin_client, round_, f"{PLAN}\nyes\n".encode(), dry_run=True).status_code == 422  # type: ignore[attr-defined]
    stray = _post(admin_client, round_, f"participant_id,colour\n{a.id},red\n".encode(), dry_run=True)
    assert stray.status_code == 422 and "colour" in stray.text  # type: ignore[attr-defined]
    assert admin_client.post(f"/api/v1/rounds/{round_.id}/imports").status_code == 422
