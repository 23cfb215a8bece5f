from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class ProposalCreate(BaseModel):
    """A member's proposed indicator: what would show that a CSF is improving, and how to measure it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    csf_key: str = Field(min_length=1, max_length=64)
    title: str = Field(min_length=3, max_length=300)
    question: str = Field(default="", max_length=1000)
    level: str = Field(default="member", pattern="^(member|cluster)$")
    kpi_type: str = Field(default="number", pattern="^(yes_no|count|number|percent|rating)$")
    unit: str | None = Field(default=None, max_length=40)
    direction: str = Field(default="increase", pattern="^(increase|decrease)$")
    language: str | None = Field(default=None, max_length=10)


class ProposalWording(BaseModel):
    """The facilitator's edit of a proposal before deciding on it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    title: str = Field(min_length=3, max_length=300)
    question: str = Field(default="", max_length=1000)
    unit: str | None = Field(default=None, max_length=40)


class ProposalRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    cluster_id: int
    participant_id: int
    round_id: int | None
    csf_key: str
    title: str
    question: str
    level: str
    kpi_type: str
    unit: str | None
    direction: str
    language: str | None
    status: str
    decision_reason: str
    kpi_key: str | None
    created_at: datetime
