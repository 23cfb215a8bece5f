"""Roll-ups that benchmarks read instead of raw answers.

Benchmarks compare hundreds of clusters; scoring each round from its raw answers on every page
view would hold millions of answers in memory. Instead each round's core scores are computed
once (by the scoring engine, so the numbers are exactly the cluster's own core scores) and kept
here, one row per round and measure. A cluster's roll-up is recomputed when its data revision
(`Cluster.data_revision`) moves past the one it was computed from (see app/benchmarks/service.py).
"""

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import Index, Text, UniqueConstraint, event, orm, update
from sqlalchemy.orm import ORMExecuteState
from sqlmodel import Field, Session, SQLModel, col

from app.audit.models import AuditEvent
from app.clusters.models import Cluster, Participant
from app.timeutil import timestamp


class BenchmarkValue(SQLModel, table=True):
    """One core measure of one round: overall, perspective:<key>, csf:<key> or kpi:<key> (raw value)."""

    __tablename__ = "benchmark_value"
    __table_args__ = (UniqueConstraint("round_id", "measure"),)

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="round.id", index=True)
    cluster_id: int = Field(foreign_key="cluster.id", index=True)
    measure: str = Field(max_length=80)
    value: float


class BenchmarkSource(SQLModel, table=True):
    """The cluster's data revision its roll-up was computed from; an older one than the cluster's means stale."""

    __tablename__ = "benchmark_source"

    cluster_id: int = Field(foreign_key="cluster.id", primary_key=True)
    revision: int
    refreshed_at: datetime = timestamp()


# Here rather than in service.py because every process that writes data loads the models. Every change that moves
# a score is audited (submissions, corrections, KPI values and settings, round status, deactivations, template
# upgrades); participants count as well (the per_member denominators), and adding one is not audited.
@event.listens_for(Session, "after_flush")
def _raise_data_revisions(session: Session, _flush: Any) -> None:
    """In SQL (revision + 1), so that two processes changing one cluster at once both count; in the flush, so
    that no service function can change the data and forget it."""
    changed = {row.cluster_id for row in session.new if isinstance(row, AuditEvent | Participant)}
    changed |= {row.cluster_id for row in session.dirty if isinstance(row, Participant) and session.is_modified(row)}
    _raise(session, changed)


@event.listens_for(Session, "do_orm_execute")
def _raise_data_revisions_of_bulk_events(state: ORMExecuteState) -> None:
    """Audit events written in one statement (`session.execute(insert(AuditEvent), rows)`) skip the flush."""
    if state.is_insert and state.bind_mapper is not None and state.bind_mapper.class_ is AuditEvent:
        parameters = state.parameters or {}
        rows = [parameters] if isinstance(parameters, Mapping) else parameters
        _raise(state.session, {row.get("cluster_id") for row in rows})


def _raise(session: orm.Session, cluster_ids: set[int | None]) -> None:
    changed = cluster_ids - {None}
    if changed:
        raised = col(Cluster.data_revision) + 1
        session.connection().execute(update(Cluster).where(col(Cluster.id).in_(changed)).values(data_revision=raised))


class BenchmarkEntry(SQLModel, table=True):
    """A closed round as benchmarks compare it, frozen when the round closes (docs/disclosure.md, rule 2): its
    values (benchmark_value rows, no longer recomputed), its period and the cluster's benchmark attributes at
    that moment. Reopening the round sets `reopened_at` and takes it out of every peer group; closing it again
    freezes it anew as the next revision."""

    __tablename__ = "benchmark_entry"

    round_id: int = Field(foreign_key="round.id", primary_key=True)
    cluster_id: int = Field(foreign_key="cluster.id", index=True)
    period: str = Field(max_length=10, index=True)
    period_end: date
    programme_id: int
    sector: str = Field(default="", max_length=120)
    country: str = Field(default="", max_length=2)
    region: str = Field(default="", max_length=120)
    typology: str | None = Field(default=None, max_length=40)
    stage: str | None = Field(default=None, max_length=40)
    revision: int = 1
    frozen_at: datetime = timestamp()
    reopened_at: datetime | None = timestamp(nullable=True)


class BenchmarkReleaseGroup(SQLModel, table=True):
    """A group of peers whose aggregate was shown: each cluster with the entry it contributed, as JSON
    ([[cluster_id, round_id, revision], ...], sorted), found again by the fingerprint of that text."""

    __tablename__ = "benchmark_release_group"

    id: int | None = Field(default=None, primary_key=True)
    fingerprint: str = Field(max_length=64, unique=True)
    members: str = Field(sa_type=Text)


class BenchmarkRelease(SQLModel, table=True):
    """An aggregate shown to an audience (a user, or the members of a cluster) for a period and a measure.

    In the database, not in a process, because the rule it serves holds across requests, sessions and app
    processes: what a viewer was shown before decides what they may be shown next (docs/disclosure.md, rule 5).
    """

    __tablename__ = "benchmark_release"
    __table_args__ = (
        UniqueConstraint("audience", "period", "measure", "group_id"),
        Index("ix_benchmark_release_audience_period", "audience", "period"),
    )

    id: int | None = Field(default=None, primary_key=True)
    audience: str = Field(max_length=40)
    period: str = Field(max_length=10)
    measure: str = Field(max_length=80)
    group_id: int = Field(foreign_key="benchmark_release_group.id", index=True)
    released_at: datetime = timestamp()
