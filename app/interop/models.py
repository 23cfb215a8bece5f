from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from app.timeutil import timestamp


class OdkSubmission(SQLModel, table=True):
    """A submission filed as a member's response to a round: received over OpenRosa (ODK Collect, KoboCollect,
    Enketo) or imported from an export (ODK Central, KoboToolbox, a table).

    An instanceID identifies a submission within that response, as ODK Central keeps it within a form: the
    same id from another member is another submission, so no one learns from a refusal that someone else
    used it. Stored without the "uuid:" prefix, which Central's exports keep and KoboToolbox's `_uuid`
    drops; rows of a table without instance ids get "row:" and the hash of the row.
    """

    __tablename__ = "odk_submission"
    __table_args__ = (UniqueConstraint("response_id", "instance_id"),)

    id: int | None = Field(default=None, primary_key=True)
    instance_id: str = Field(max_length=100)
    xml_sha256: str = Field(max_length=64)
    response_id: int = Field(foreign_key="response.id", index=True)
    deprecated_id: str | None = Field(default=None, max_length=100)
    source: str = Field(default="openrosa", max_length=10)
    # When the source received it (an export's SubmissionDate or _submission_time); None when unknown.
    submitted_at: datetime | None = timestamp(nullable=True)
    received_at: datetime = timestamp()
