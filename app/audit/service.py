from collections.abc import Iterable
from typing import Any

from sqlalchemy import insert, update
from sqlmodel import Session, col, select

from app.audit.models import AuditEvent
from app.clusters.models import Cluster
from app.timeutil import utcnow


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: int | None,
    cluster_id: int | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    """Written in the same transaction as the change it describes: both land or neither does."""
    row = AuditEvent(
        **event(
            actor=actor,
            action=action,
            entity=entity,
            entity_id=entity_id,
            cluster_id=cluster_id,
            before=before,
            after=after,
        )
    )
    session.add(row)
    data_changed(session, {cluster_id})
    return row


def event(
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: int | None,
    cluster_id: int | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An event to write with record_all, as the row it becomes."""
    return {
        "at": utcnow(),
        "actor": actor,
        "action": action,
        "entity": entity,
        "entity_id": entity_id,
        "cluster_id": cluster_id,
        "before": before,
        "after": after,
    }


def record_all(session: Session, events: list[dict[str, Any]]) -> None:
    """Several events (made by `event`) in one statement, in the same transaction as the change they describe;
    after the changes still pending in the session, so the trail keeps their order."""
    if events:
        session.execute(insert(AuditEvent), events)
        data_changed(session, {e["cluster_id"] for e in events})


def data_changed(session: Session, cluster_ids: Iterable[int | None]) -> None:
    """Raises each cluster's data revision, which its benchmark roll-up is compared with (app/benchmarks).

    Every change that moves a score is audited, so recording it raises the revision; adding a participant (the
    per-member denominators) is not audited and calls this itself. In SQL (revision + 1), so that two processes
    changing one cluster at once both count.
    """
    changed = set(cluster_ids) - {None}
    if changed:
        raised = col(Cluster.data_revision) + 1
        session.connection().execute(update(Cluster).where(col(Cluster.id).in_(changed)).values(data_revision=raised))


def history(session: Session, *, entity: str, entity_id: int) -> list[AuditEvent]:
    statement = (
        select(AuditEvent)
        .where(AuditEvent.entity == entity, AuditEvent.entity_id == entity_id)
        .order_by(col(AuditEvent.id))
    )
    return list(session.exec(statement))
