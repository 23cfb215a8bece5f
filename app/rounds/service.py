"""Evaluation rounds and the cluster-level KPI values entered for them."""

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from app.audit import service as audit
from app.benchmarks import service as benchmark_service
from app.clusters import service as cluster_service
from app.clusters.models import Cluster
from app.clusters.schemas import ScorecardKpi
from app.errors import Conflict, InvalidInput, NotFound
from app.i18n.translation import _l
from app.responses.logic import AnswerRejected, coerce_answer, value_problem
from app.rounds.models import KpiValue, Round
from app.rounds.schemas import KpiValueSet, RoundCreate, RoundStatus
from app.timeutil import utcnow

# Reopening a closed round is allowed (a late member, a correction); going back to draft is not,
# because answers may already exist.
ALLOWED_TRANSITIONS = {
    RoundStatus.draft: {RoundStatus.open},
    RoundStatus.open: {RoundStatus.closed},
    RoundStatus.closed: {RoundStatus.open},
}


def create_round(session: Session, cluster: Cluster, data: RoundCreate) -> Round:
    """Its answering dates are checked here rather than in the schema, so the page and the API both say why in
    the reader's language, next to the field."""
    assert cluster.id is not None
    if not data.label.strip():
        message = _l("Name the round, e.g. 2026 H2.")
        raise InvalidInput(message, details=[{"field": "label", "message": message}])
    if data.opens_on and data.closes_on and data.closes_on < data.opens_on:
        message = _l("The last day for answers cannot be before the first.")
        raise InvalidInput(message, details=[{"field": "closes_on", "message": message}])
    round_ = Round(cluster_id=cluster.id, **data.model_dump() | {"label": data.label.strip()})
    session.add(round_)
    session.flush()
    return round_


def list_rounds(session: Session, cluster: Cluster) -> list[Round]:
    statement = select(Round).where(Round.cluster_id == cluster.id).order_by(col(Round.id))
    return list(session.exec(statement))


def get_round(session: Session, round_id: int) -> Round:
    round_ = session.get(Round, round_id)
    if round_ is None:
        raise NotFound("No such round.")
    return round_


# Built once: every request about a round runs it, and building a statement costs about as much as running it
# (docs/benchmarks.md); bound parameters let SQLAlchemy keep its cache key with it.
_ROUND_WITH_CLUSTER = (
    select(Round, Cluster).join(Cluster, col(Cluster.id) == Round.cluster_id).where(Round.id == bindparam("round_id"))
)


def get_round_with_cluster(session: Session, round_id: int) -> tuple[Round, Cluster]:
    """Both in one query: every request about a round checks its cluster's permissions first."""
    found = session.exec(_ROUND_WITH_CLUSTER, params={"round_id": round_id}).first()
    if found is None:
        raise NotFound("No such round.")
    return found[0], found[1]


# For messages and pages that name a round's status.
# Translators: the status of an evaluation round, as in "an open round".
STATUS_NAMES = {RoundStatus.draft: _l("draft"), RoundStatus.open: _l("open"), RoundStatus.closed: _l("closed")}


def set_status(session: Session, round_: Round, status: RoundStatus, *, actor: str) -> Round:
    current = RoundStatus(round_.status)
    if status == current:
        return round_
    if status not in ALLOWED_TRANSITIONS[current]:
        raise Conflict(
            "A %(current)s round cannot be set to %(status)s.",
            current=STATUS_NAMES[current],
            status=STATUS_NAMES[status],
        )
    audit.record(
        session,
        actor=actor,
        action="round_status",
        entity="round",
        entity_id=round_.id,
        cluster_id=round_.cluster_id,
        before={"status": current.value},
        after={"status": status.value},
    )
    round_.status = status.value
    session.add(round_)
    session.flush()
    # A closed round's figures are what benchmarks compare, frozen until it is reopened (docs/disclosure.md).
    if status == RoundStatus.closed:
        benchmark_service.freeze_round(session, round_, cluster_service.get_cluster(session, round_.cluster_id))
    elif current == RoundStatus.closed:
        benchmark_service.thaw_round(session, round_)
    return round_


def _entered_kpi(session: Session, round_: Round, kpi_key: str) -> ScorecardKpi:
    """A KPI of the round's cluster whose value the facilitator enters."""
    if round_.status == RoundStatus.closed:
        raise Conflict("This round is closed: reopen it to change its figures (the change is recorded).")
    cluster = cluster_service.get_cluster(session, round_.cluster_id)
    kpi = cluster_service.scorecard(session, cluster).kpi(kpi_key)
    if kpi is None:
        raise NotFound("The scorecard of this cluster has no KPI '%(key)s'.", key=kpi_key)
    if kpi.level != "cluster":
        raise InvalidInput(
            "KPI '%(key)s' is answered by members; its value is computed from their answers.", key=kpi_key
        )
    return kpi


def set_typed_kpi_value(
    session: Session, round_: Round, kpi_key: str, typed: str, *, note: str, locale: str, actor: str
) -> KpiValue:
    """A value as the facilitator typed it (a number written as in `locale`) or chose it (yes or no)."""
    kpi = _entered_kpi(session, round_, kpi_key)
    try:
        value, _text = coerce_answer(kpi, typed, locale=locale)
    except AnswerRejected as exc:
        raise InvalidInput(exc.message) from None
    if value is None and kpi.type == "yes_no":
        raise InvalidInput("Please answer yes or no.")
    if value is None:
        raise InvalidInput("Please enter a number.")
    return set_kpi_value(session, round_, kpi_key, KpiValueSet(value=value, note=note), actor=actor)


def set_kpi_value(session: Session, round_: Round, kpi_key: str, data: KpiValueSet, *, actor: str) -> KpiValue:
    """Yes/no facts are stored as 1 (yes) and 0 (no), as members' yes/no answers are."""
    assert round_.id is not None
    kpi = _entered_kpi(session, round_, kpi_key)
    problem = value_problem(kpi, data.value)
    if problem is not None:
        raise InvalidInput(problem)
    existing = session.exec(select(KpiValue).where(KpiValue.round_id == round_.id, KpiValue.kpi_key == kpi_key)).first()
    before = {"value": existing.value, "note": existing.note} if existing else None
    row = existing or KpiValue(round_id=round_.id, kpi_key=kpi_key, value=data.value)
    row.value, row.note, row.updated_at = data.value, data.note, utcnow()
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="kpi_value",
        entity="kpi_value",
        entity_id=row.id,
        cluster_id=round_.cluster_id,
        before=before,
        after={"kpi_key": kpi_key, "value": data.value, "note": data.note},
    )
    return row


def kpi_values(session: Session, round_: Round) -> list[KpiValue]:
    return list(session.exec(select(KpiValue).where(KpiValue.round_id == round_.id)))
