"""Indicators proposed by members; the facilitator accepts (it joins the cluster's scorecard) or declines them."""

from sqlmodel import Session, col, select

from app.audit import service as audit
from app.clusters import service as cluster_service
from app.clusters.models import Cluster, ClusterKpi, Participant
from app.clusters.schemas import CustomKpiCreate, Scorecard
from app.dashboard import logic as dashboard_logic
from app.errors import Conflict, InvalidInput, NotFound
from app.i18n.translation import _l
from app.interop import service as interop_service
from app.proposals.models import IndicatorProposal
from app.proposals.schemas import ProposalCreate, ProposalWording
from app.timeutil import utcnow


def propose(
    session: Session,
    participant: Participant,
    data: ProposalCreate,
    *,
    scorecard: Scorecard,
    round_id: int | None,
    actor: str,
) -> IndicatorProposal:
    if scorecard.csf(data.csf_key) is None:
        raise InvalidInput(
            "Please choose which success factor this indicator belongs to.",
            details=[{"field": "csf_key", "message": _l("Please choose one of the success factors.")}],
        )
    assert participant.id is not None
    proposal = IndicatorProposal(
        cluster_id=participant.cluster_id, participant_id=participant.id, round_id=round_id, **data.model_dump()
    )
    session.add(proposal)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="indicator_proposed",
        entity="indicator_proposal",
        entity_id=proposal.id,
        cluster_id=participant.cluster_id,
        after=data.model_dump(),
    )
    return proposal


def proposals_of(session: Session, participant: Participant) -> list[IndicatorProposal]:
    statement = select(IndicatorProposal).where(IndicatorProposal.participant_id == participant.id)
    return list(session.exec(statement.order_by(col(IndicatorProposal.id))))


def proposals_for_cluster(session: Session, cluster_id: int, *, status: str | None = None) -> list[IndicatorProposal]:
    statement = select(IndicatorProposal).where(IndicatorProposal.cluster_id == cluster_id)
    if status is not None:
        statement = statement.where(IndicatorProposal.status == status)
    return list(session.exec(statement.order_by(col(IndicatorProposal.id))))


def get_proposal(session: Session, cluster_id: int, proposal_id: int) -> IndicatorProposal:
    """A proposal of this cluster; another cluster's looks like one that does not exist."""
    proposal = session.get(IndicatorProposal, proposal_id)
    if proposal is None or proposal.cluster_id != cluster_id:
        raise NotFound("No such proposal.")
    return proposal


def _require_undecided(proposal: IndicatorProposal) -> None:
    if proposal.status != "proposed":
        raise Conflict("This proposal was already %(status)s.", status=proposal.status)


def reword(session: Session, proposal: IndicatorProposal, data: ProposalWording, *, actor: str) -> IndicatorProposal:
    """The facilitator sharpens the wording with the cluster before deciding; the member's words stay in the audit."""
    _require_undecided(proposal)
    _check_odk_form(data.title, data.question, data.unit)
    changes = {k: v for k, v in data.model_dump().items() if getattr(proposal, k) != v}
    if not changes:
        return proposal
    audit.record(
        session,
        actor=actor,
        action="indicator_reworded",
        entity="indicator_proposal",
        entity_id=proposal.id,
        cluster_id=proposal.cluster_id,
        before={k: getattr(proposal, k) for k in changes},
        after=changes,
    )
    for key, value in changes.items():
        setattr(proposal, key, value)
    session.add(proposal)
    session.flush()
    return proposal


def _check_odk_form(title: str, question: str | None, unit: str | None) -> None:
    """Wording that the round's ODK form could not carry is refused, with the reason, before anything is
    written: the facilitator rewords it on the same page and accepts it then."""
    problems = interop_service.question_problems(title=title, question=question, unit=unit)
    if problems:
        reason = problems[0]["message"]
        raise InvalidInput("This indicator would break the ODK form: %(reason)s", reason=reason, details=problems)


def accept(session: Session, proposal: IndicatorProposal, cluster: Cluster, *, actor: str) -> ClusterKpi:
    """The proposal joins the cluster's scorecard as its own KPI; rounds scored from now on include it."""
    _require_undecided(proposal)
    _check_odk_form(proposal.title, proposal.question, proposal.unit)
    taken = set(cluster_service.kpi_rows(session, cluster))
    data = CustomKpiCreate(
        key=dashboard_logic.kpi_key_for(proposal.title, taken),
        csf_key=proposal.csf_key,
        title=proposal.title,
        level=proposal.level,
        # A member-level indicator needs a question; the title is the fallback when the member left it empty.
        question=proposal.question or (proposal.title if proposal.level == "member" else None),
        kpi_type=proposal.kpi_type,
        unit=proposal.unit or None,
        direction=proposal.direction,
        language=proposal.language,
    )
    kpi = cluster_service.add_custom_kpi(session, cluster, data, actor=actor)
    proposal.status, proposal.kpi_key = "accepted", kpi.key
    _decided(session, proposal, actor=actor, action="indicator_accepted")
    return kpi


def decline(session: Session, proposal: IndicatorProposal, *, reason: str, actor: str) -> IndicatorProposal:
    """Declining needs a reason: the member who took the trouble to propose is told why."""
    _require_undecided(proposal)
    reason = reason.strip()
    if not reason:
        raise InvalidInput(
            "Please tell the member why.",
            details=[{"field": "reason", "message": "The member sees this reason; please give one."}],
        )
    proposal.status, proposal.decision_reason = "declined", reason[:1000]
    _decided(session, proposal, actor=actor, action="indicator_declined")
    return proposal


def _decided(session: Session, proposal: IndicatorProposal, *, actor: str, action: str) -> None:
    proposal.decided_by, proposal.decided_at = actor, utcnow()
    session.add(proposal)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action=action,
        entity="indicator_proposal",
        entity_id=proposal.id,
        cluster_id=proposal.cluster_id,
        before={"status": "proposed"},
        after={"status": proposal.status, "kpi_key": proposal.kpi_key, "reason": proposal.decision_reason},
    )
