from datetime import datetime

from sqlmodel import Field, SQLModel

from app.timeutil import timestamp


class OdkSubmission(SQLModel, table=True):
    """An OpenRosa submission received from ODK Collect, KoboCollect or Enketo (deduplicated on instanceID)."""

    __tablename__ = "odk_submission"
    id: int | None = Field(default=None, primary_key=True)
    instance_id: str = Field(max_length=100, unique=True)
    xml_sha256: str = Field(max_length=64)
    response_id: int = Field(foreign_key="response.id", index=True)
    deprecated_id: str | None = Field(default=None, max_length=100)
    received_at: datetime = timestamp()
