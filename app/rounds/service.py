"""Evaluation rounds and the cluster-level KPI values entered for them."""

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from app.audit import service as audit
from app.clusters import service as cluster_service
from app.clusters.models import Cluster
from app.errors import Conflict, InvalidInput, NotFound
from app.i18n.translation import _l
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
    assert cluster.id is not None
    round_ = Round(cluster_id=cluster.id, **data.model_dump())
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
# (bench/load.py; bound parameters let SQLAlchemy keep its cache key with it).
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
    return round_


def set_kpi_value(session: Session, round_: Round, kpi_key: str, data: KpiValueSet, *, actor: str) -> KpiValue:
    assert round_.id is not None
    cluster = cluster_service.get_cluster(session, round_.cluster_id)
    kpi = cluster_service.scorecard(session, cluster).kpi(kpi_key)
    if kpi is None:
        raise NotFound("The scorecard of this cluster has no KPI '%(key)s'.", key=kpi_key)
    if kpi.level != "cluster":
        raise InvalidInput(
            "KPI '%(key)s' is answered by members; its value is computed from their answers.", key=kpi_key
        )
    if kpi.type == "percent" and not 0 <= data.value <= 100:
        raise InvalidInput("A percentage must lie between 0 and 100.")
    if kpi.type in ("count", "yes_no") and (data.value < 0 or data.value != int(data.value)):
        raise InvalidInput("A count must be a whole number of 0 or more.")
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
        cluster_id=cluster.id,
        before=before,
        after={"kpi_key": kpi_key, "value": data.value, "note": data.note},
    )
    return row


def kpi_values(session: Session, round_: Round) -> list[KpiValue]:
    return list(session.exec(select(KpiValue).where(KpiValue.round_id == round_.id)))
