from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator


class RoundStatus(StrEnum):
    draft = "draft"
    open = "open"
    closed = "closed"


class RoundCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = Field(min_length=1, max_length=120)
    period_start: date | None = None
    period_end: date | None = None

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
    status: RoundStatus


class KpiValueSet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: float = Field(allow_inf_nan=False)
    note: str = Field(default="", max_length=2000, description="Where the figure comes from")


class KpiValueRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    round_id: int
    kpi_key: str
    value: float
    note: str
    updated_at: datetime
