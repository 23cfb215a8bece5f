from datetime import datetime

from sqlalchemy import DateTime, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.timeutil import timestamp


class Response(SQLModel, table=True):
    """One participant's self-evaluation in one round: a draft until submitted."""

    __table_args__ = (UniqueConstraint("round_id", "participant_id"),)

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="round.id", index=True)
    participant_id: int = Field(foreign_key="participant.id", index=True)
    status: str = Field(default="draft", max_length=10)
    # Client-generated id of the submission, so a retried submit creates nothing new.
    client_id: str | None = Field(default=None, max_length=64, unique=True)
    created_at: datetime = timestamp()
    updated_at: datetime = timestamp()
    submitted_at: datetime | None = timestamp(nullable=True)


class Answer(SQLModel, table=True):
    """A member's answer to a member-level KPI question (yes stored as 1, no as 0)."""

    __table_args__ = (UniqueConstraint("response_id", "kpi_key"),)

    id: int | None = Field(default=None, primary_key=True)
    response_id: int = Field(foreign_key="response.id", index=True)
    kpi_key: str = Field(max_length=64)
    value_num: float | None = None
    value_text: str | None = Field(default=None, max_length=2000)
    updated_at: datetime = timestamp()


class CsfRating(SQLModel, table=True):
    """How present a member thinks a CSF is in the cluster, with their reason ("why?")."""

    __tablename__ = "csf_rating"
    __table_args__ = (UniqueConstraint("response_id", "csf_key"),)

    id: int | None = Field(default=None, primary_key=True)
    response_id: int = Field(foreign_key="response.id", index=True)
    csf_key: str = Field(max_length=64)
    rating: int | None = None
    comment: str = Field(default="", max_length=2000)
    updated_at: datetime = timestamp()


class ClientChange(SQLModel, table=True):
    """A change a client sent (the web form and its offline queue, the API, ODK Collect), under the id the
    client gave it: one id, one change, forever. Sent again with the same content it changes nothing; with
    other content it is refused (responses.service.find_change)."""

    __tablename__ = "client_change"

    id: int | None = Field(default=None, primary_key=True)
    client_id: str = Field(max_length=160, unique=True)
    response_id: int = Field(foreign_key="response.id", index=True)
    # SHA-256 of what the change changes; None for ids recorded before contents were compared.
    content_sha256: str | None = Field(default=None, max_length=64)
    received_at: datetime = timestamp()


class AnswerChange(SQLModel, table=True):
    """One field of one change to a response, with when it was made: the history of every answer.

    Phones queue answers while offline and send them when the connection returns, possibly twice
    (a retry after a lost reply) and possibly from two devices. The device's own time (or, for a
    change that carries none, the time it arrived) decides which of two edits of the same field wins
    (last writer wins); changes that lose are kept here too, so no version of an answer is ever lost.
    """

    __tablename__ = "answer_change"

    id: int | None = Field(default=None, primary_key=True)
    # The change's id (the client's, or one the server made up), then ":" and the field.
    client_id: str = Field(max_length=160, unique=True)
    response_id: int = Field(foreign_key="response.id", index=True)
    field: str = Field(max_length=80)
    value: str = Field(default="", max_length=2000)
    client_at: datetime = Field(sa_type=DateTime(timezone=True))
    applied: bool = True
    received_at: datetime = timestamp()
