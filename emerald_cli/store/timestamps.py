"""Timestamps kept in UTC, read back timezone-aware whatever the database returns."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa


def utc_now() -> datetime:
    """The current time as an aware UTC datetime: the only kind the store accepts."""
    return datetime.now(UTC)


def require_aware(moment: datetime) -> None:
    """Refuse a naive datetime early, before it is compared with stored UTC times."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment.isoformat()}: pass an aware UTC time")


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """A timestamp column that refuses naive datetimes and always returns aware UTC ones.

    SQLite has no time zones: values are stored there as naive UTC text and given back their
    zone on the way out, so code compares them the same way on both databases.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> Any:
        if value is None:
            return None

        require_aware(value)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None

        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
