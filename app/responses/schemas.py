from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

AnswerValue = bool | float | str | None


class AnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kpi_key: str = Field(max_length=64)
    value: AnswerValue = Field(
        description="yes/no as true/false, numbers as numbers, text as text; null clears. A number given as text "
        'is read as written in the request\'s language and region (Accept-Language, e.g. "12,5" in es); text '
        'that could be two numbers ("1,500" in es) is refused. Percentages from 0 to 100.'
    )


class RatingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    csf_key: str = Field(max_length=64)
    rating: int | None = Field(default=None, description="On the template's rating scale; null clears")
    comment: str = Field(default="", max_length=2000, description="Why this rating")


class ResponseDraft(BaseModel):
    model_config = ConfigDict(extra="forbid")
    answers: list[AnswerIn] = Field(default_factory=list, max_length=500)
    ratings: list[RatingIn] = Field(default_factory=list, max_length=500)


ClientId = Annotated[
    str | None,
    Field(
        default=None,
        min_length=8,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="Client-generated id of this change, used once: the same id with the same content again "
        "creates nothing new (200); with other content it is refused (409)",
    ),
]


class ResponseChange(ResponseDraft):
    """A change to a response. Each answer, rating and comment in it that was changed on the device before the
    stored one was (changed_at; without it, when the request arrives) is kept in the history, not applied."""

    client_id: ClientId = None
    changed_at: datetime | None = Field(
        default=None,
        description="When the change was made on the device (ISO 8601 with offset); a time in the future counts as now",
    )


class ResponseCreate(ResponseChange):
    participant_id: int
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
