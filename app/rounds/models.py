from datetime import date, datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from app.timeutil import timestamp


class Round(SQLModel, table=True):
    """An evaluation period of one cluster (draft -> open -> closed, reopenable)."""

    id: int | None = Field(default=None, primary_key=True)
    cluster_id: int = Field(foreign_key="cluster.id", index=True)
    label: str = Field(max_length=120)
    period_start: date | None = None
    period_end: date | None = None
    # When members may answer, as announced to them (their home page shows both in their language). The status is
    # what actually lets them answer: a facilitator opens and closes the round by hand, after a confirmation.
    opens_on: date | None = None
    closes_on: date | None = None
    status: str = Field(default="draft", max_length=10)
    created_at: datetime = timestamp()


class KpiValue(SQLModel, table=True):
    """A cluster-level KPI value for a round, entered by the facilitator with its source."""

    __tablename__ = "kpi_value"
    __table_args__ = (UniqueConstraint("round_id", "kpi_key"),)

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="round.id", index=True)
    kpi_key: str = Field(max_length=64)
    value: float
    note: str = Field(default="", max_length=2000)
    updated_at: datetime = timestamp()
