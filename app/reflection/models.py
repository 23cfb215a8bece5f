from datetime import date, datetime

from sqlmodel import Field, SQLModel

from app.timeutil import timestamp


class ReflectionNote(SQLModel, table=True):
    """What the cluster concluded about a CSF in a reflection session."""

    __tablename__ = "reflection_note"

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="round.id", index=True)
    csf_key: str | None = Field(default=None, max_length=64)
    text: str = Field(max_length=4000)
    created_at: datetime = timestamp()


class ActionItem(SQLModel, table=True):
    """An agreed action; it belongs to the cluster so it carries over to the next round's review."""

    __tablename__ = "action_item"

    id: int | None = Field(default=None, primary_key=True)
    cluster_id: int = Field(foreign_key="cluster.id", index=True)
    round_id: int = Field(foreign_key="round.id", index=True)
    csf_key: str | None = Field(default=None, max_length=64)
    title: str = Field(max_length=300)
    owner: str = Field(default="", max_length=200)
    due_date: date | None = None
    status: str = Field(default="open", max_length=12)
    created_at: datetime = timestamp()
    updated_at: datetime = timestamp()
