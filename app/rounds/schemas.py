from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator


class RoundStatus(StrEnum):
    draft = "draft"
    open = "open"
    closed = "closed"


class RoundCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = Field(
        max_length=120, description="Required; checked by the service, which says so in the reader's language"
    )
    period_start: date | None = None
    period_end: date | None = None
    opens_on: date | None = Field(default=None, description="When members may start answering (shown to them)")
    closes_on: date | None = Field(default=None, description="The last day for answers (shown to them)")

    @model_validator(mode="after")
    def _period_in_order(self) -> "RoundCreate":
        if self.period_start and self.period_end and self.period_end < self.period_start:
            raise ValueError("period_end must not be before period_start")
        return self


class RoundStatusUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: RoundStatus


class RoundRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    cluster_id: int
    label: str
    period_start: date | None
    period_end: date | None
    opens_on: date | None
    closes_on: date | None
    status: RoundStatus


class KpiValueSet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: float = Field(
        allow_inf_nan=False,
        description="In the KPI's unit and range (its min and max in the scorecard): percentages from 0 to 100, "
        "counts whole, yes/no facts 1 (yes) or 0 (no)",
    )
    note: str = Field(default="", max_length=2000, description="Where the figure comes from")


class KpiValueRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    round_id: int
    kpi_key: str
    value: float
    note: str
    updated_at: datetime
