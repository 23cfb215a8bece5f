from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

AnswerValue = bool | float | str | None


class AnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kpi_key: str = Field(max_length=64)
    value: AnswerValue = Field(description="yes/no as true/false, numbers as numbers, text as text; null clears")


class RatingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    csf_key: str = Field(max_length=64)
    rating: int | None = Field(default=None, description="On the template's rating scale; null clears")
    comment: str = Field(default="", max_length=2000, description="Why this rating")


class ResponseDraft(BaseModel):
    model_config = ConfigDict(extra="forbid")
    answers: list[AnswerIn] = Field(default_factory=list, max_length=500)
    ratings: list[RatingIn] = Field(default_factory=list, max_length=500)


class ResponseCreate(ResponseDraft):
    participant_id: int
    client_id: str | None = Field(
        default=None,
        min_length=8,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="Client-generated id; repeating a request with the same id creates nothing new",
    )
    submit: bool = False


class SubmitRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_id: str | None = Field(default=None, min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")


class AnswerRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    kpi_key: str
    value_num: float | None
    value_text: str | None


class RatingRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    csf_key: str
    rating: int | None
    comment: str


class ResponseRead(BaseModel):
    id: int
    round_id: int
    participant_id: int
    status: str
    client_id: str | None
    submitted_at: datetime | None
    answers: list[AnswerRead]
    ratings: list[RatingRead]


class AuditEntry(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    at: datetime
    actor: str
    action: str
    before: dict[str, object] | None
    after: dict[str, object] | None
