from typing import Any

from sqlalchemy import insert
from sqlmodel import Session, col, select

from app.audit.models import AuditEvent
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
    event = AuditEvent(
        actor=actor,
        action=action,
        entity=entity,
        entity_id=entity_id,
        cluster_id=cluster_id,
        before=before,
        after=after,
    )
    session.add(event)
    return event


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


def history(session: Session, *, entity: str, entity_id: int) -> list[AuditEvent]:
    statement = (
        select(AuditEvent)
        .where(AuditEvent.entity == entity, AuditEvent.entity_id == entity_id)
        .order_by(col(AuditEvent.id))
    )
    return list(session.exec(statement))
