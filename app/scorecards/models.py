from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.timeutil import timestamp


class TemplateVersion(SQLModel, table=True):
    """An immutable, loaded scorecard template.

    Identified by key + content hash: editing a YAML file creates a new row and never changes
    the meaning of data collected against an older one. `version` is the label the author gave.
    """

    __tablename__ = "template_version"
    __table_args__ = (UniqueConstraint("key", "content_hash"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=64, index=True)
    version: str = Field(max_length=32)
    title: str = Field(max_length=300)
    content_hash: str = Field(max_length=64)
    spec: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    source_file: str | None = Field(default=None, max_length=300)
    loaded_at: datetime = timestamp()
