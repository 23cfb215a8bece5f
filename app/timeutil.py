from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field


def utcnow() -> datetime:
    """Aware UTC timestamps everywhere, so SQLite and PostgreSQL rows compare the same."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite returns naive datetimes (stored in UTC), PostgreSQL aware ones: compare both as aware UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """DateTime(timezone=True) that always reads back aware UTC datetimes.

    SQLite stores no offset and hands back naive datetimes; left naive they would be serialised without an
    offset (violating the API's date-time format) and could not be compared with utcnow(). In migrations it is
    plain sa.DateTime(timezone=True) (migrations/env.py renders it so).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def timestamp(*, nullable: bool = False) -> Any:
    """A timezone-aware column; set to now on insert unless nullable (then set by the code that knows when)."""
    if nullable:
        return Field(default=None, sa_type=UTCDateTime)
    return Field(default_factory=utcnow, sa_type=UTCDateTime)
