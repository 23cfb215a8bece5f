from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlmodel import Field


def utcnow() -> datetime:
    """Aware UTC timestamps everywhere, so SQLite and PostgreSQL rows compare the same."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite returns naive datetimes (stored in UTC), PostgreSQL aware ones: compare both as aware UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def timestamp(*, nullable: bool = False) -> Any:
    """A timezone-aware column; set to now on insert unless nullable (then set by the code that knows when)."""
    if nullable:
        return Field(default=None, sa_type=DateTime(timezone=True))
    return Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
