"""Roll-ups that benchmarks read instead of raw answers.

Benchmarks compare hundreds of clusters; scoring each round from its raw answers on every page
view would hold millions of answers in memory. Instead each round's core scores are computed
once (by the scoring engine, so the numbers are exactly the cluster's own core scores) and kept
here, one row per round and measure. A cluster's roll-up is recomputed when its data revision
(`Cluster.data_revision`) moves past the one it was computed from (see app/benchmarks/service.py).
"""

from datetime import date, datetime

from sqlalchemy import Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

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


class BenchmarkMeasureSet(SQLModel, table=True):
    """The measures some frozen entries have a value for (sorted keys, space-separated), found by the fingerprint
    of that text. Entries share their set, usually every measure of their template, so counting peers by it
    groups thousands of entries into a few sets."""

    __tablename__ = "benchmark_measure_set"

    fingerprint: str = Field(primary_key=True, max_length=64)
    measures: str = Field(sa_type=Text)


class BenchmarkEntry(SQLModel, table=True):
    """A closed round as benchmarks compare it, frozen when the round closes (docs/disclosure.md, rule 2): its
    values (benchmark_value rows, no longer recomputed), its period and the cluster's benchmark attributes at
    that moment. Reopening the round sets `reopened_at` and takes it out of every peer group; closing it again
    freezes it anew as the next revision.

    `measure_set` names the measures the entry has a value for: the differencing control counts, for every group
    around a viewer, the peers with a value per measure, and at programme scale reading that from the entries
    instead of from every peer's values is the difference between milliseconds and seconds."""

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
    measure_set: str = Field(foreign_key="benchmark_measure_set.fingerprint", max_length=64)
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
