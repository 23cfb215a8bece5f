from datetime import datetime

from sqlmodel import Field, SQLModel

from app.timeutil import timestamp


class IndicatorProposal(SQLModel, table=True):
    """An indicator a member proposes for their cluster's own scorecard (seed Table 6: people choose indicators).

    It stays in the language it was written in; the facilitator may reword it before accepting,
    and a declined proposal keeps the reason the member is shown.
    """

    __tablename__ = "indicator_proposal"

    id: int | None = Field(default=None, primary_key=True)
    cluster_id: int = Field(foreign_key="cluster.id", index=True)
    participant_id: int = Field(foreign_key="participant.id", index=True)
    round_id: int | None = Field(default=None, foreign_key="round.id")
    csf_key: str = Field(max_length=64)
    title: str = Field(max_length=300)
    # What to ask each member, or what to count for the cluster as a whole.
    question: str = Field(default="", max_length=1000)
    level: str = Field(default="member", max_length=10)
    kpi_type: str = Field(default="number", max_length=10)
    unit: str | None = Field(default=None, max_length=40)
    direction: str = Field(default="increase", max_length=10)
    language: str | None = Field(default=None, max_length=10)
    status: str = Field(default="proposed", max_length=10)
    decision_reason: str = Field(default="", max_length=1000)
    decided_by: str | None = Field(default=None, max_length=300)
    decided_at: datetime | None = timestamp(nullable=True)
    # The cluster KPI the proposal became, once accepted.
    kpi_key: str | None = Field(default=None, max_length=64)
    created_at: datetime = timestamp()
