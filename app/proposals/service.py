"""Indicators proposed by members; the facilitator accepts (it joins the cluster's scorecard) or declines them."""

from sqlmodel import Session, col, select

from app.audit import service as audit
from app.clusters.models import Participant
from app.clusters.schemas import Scorecard
from app.errors import InvalidInput
from app.i18n.translation import _l
from app.proposals.models import IndicatorProposal
from app.proposals.schemas import ProposalCreate


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
