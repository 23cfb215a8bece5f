"""Roll-ups that benchmarks read instead of raw answers.

Benchmarks compare hundreds of clusters; scoring each round from its raw answers on every page
view would hold millions of answers in memory. Instead each round's core scores are computed
once (by the scoring engine, so the numbers are exactly the cluster's own core scores) and kept
here, one row per round and measure. A cluster's roll-up is recomputed when its source stamp
changes (see app/benchmarks/service.py): the stamp is built from the audit trail, which every
change that moves a score already writes to.
"""

from datetime import datetime

from sqlalchemy import UniqueConstraint
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
    """What a cluster's roll-up was computed from; a different stamp means it is stale."""

    __tablename__ = "benchmark_source"

    cluster_id: int = Field(foreign_key="cluster.id", primary_key=True)
    stamp: str = Field(max_length=200)
    refreshed_at: datetime = timestamp()
