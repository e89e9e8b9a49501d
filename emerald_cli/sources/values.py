"""Parsers for the wire values both SaaS APIs send: ids as text, 0/1 flags, money as text.

Each returns None for "nothing there" ("" / null / "-"), never 0, because a missing signal or
coordinate is not a measured zero. Garbage raises ValueError or TypeError, so the caller decides
whether the field or the whole record is lost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

logger = logging.getLogger(__name__)

DEFAULT_ZONE = "America/Argentina/Buenos_Aires"
EMPTY = ("", "-", "null", "None")
TRUE_WORDS = ("1", "true", "yes")
FALSE_WORDS = ("0", "false", "no")
NO_DATE = ("0", "0000-00-00", "0000-00-00 00:00:00")
# What the store's columns hold: money is numeric(14, 2), optical levels numeric(7, 2). A value
# beyond them would fail the whole stream's write; as a field that cannot be read, it is NULL.
MONEY_LIMIT = Decimal(10) ** 12
SIGNAL_LIMIT = Decimal(1000)

T = TypeVar("T")


def zone_of(zone: str | tzinfo) -> tzinfo:
    return ZoneInfo(zone) if isinstance(zone, str) else zone


def text(value: Any) -> str | None:
    """Text with NUL characters removed; "" and null become None, numbers become text."""
    if value is None:
        return None
    cleaned = (value if type(value) is str else str(value)).replace("\x00", "")
    return cleaned or None


def integer(value: Any) -> int | None:
    """An id or count sent as int or as text ("17"); empty is None."""
    if type(value) is int or value is None:
        return value
    if isinstance(value, bool):
        raise TypeError(f"not an integer: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        stripped = value.strip()
        if stripped in EMPTY:
            return None
        return int(stripped)
    raise TypeError(f"not an integer: {value!r}")


def flag(value: Any) -> bool | None:
    """A boolean sent as 0/1, "0"/"1" or true/false."""
    if value is None or isinstance(value, bool):
        return value
    if type(value) is int and value in (0, 1):
        return value == 1
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    if word in EMPTY:
        return None
    raise ValueError(f"not a flag: {value!r}")


def decimal(value: Any) -> Decimal | None:
    """A number sent as text ("15400.00") or as a JSON number, kept exact."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError(f"not a number: {value!r}")
    word = str(value).strip()
    if word in EMPTY:
        return None
    try:
        number = Decimal(word)
    except InvalidOperation:
        raise ValueError(f"not a number: {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"not a number: {value!r}")
    return number


def money(value: Any) -> Decimal | None:
    """An amount of money; beyond a trillion it is a typo, and no money column holds it."""
    number = decimal(value)
    if number is not None and abs(number) >= MONEY_LIMIT:
        raise ValueError(f"not a plausible amount: {value!r}")
    return number


def coordinate(value: Any) -> Decimal | None:
    """A latitude or longitude; exactly zero ("0.000000000000") means "no location"."""
    number = decimal(value)
    if number is None or number == 0:
        return None
    if abs(number) > 180:
        raise ValueError(f"not a coordinate: {value!r}")
    return number


def signal(value: Any) -> Decimal | None:
    """An optical level: "-23.10 dBm" or a bare "-24.0" → Decimal; "-" or "" → None."""
    if isinstance(value, str):
        value = value.strip()
        if value[-3:].lower() == "dbm":
            value = value[:-3].strip()
    number = decimal(value)
    if number is not None and abs(number) >= SIGNAL_LIMIT:
        raise ValueError(f"not an optical level in dBm: {value!r}")
    return number


def moment(value: Any, zone: tzinfo) -> datetime | None:
    """A timezone-aware datetime; text without a zone is read as the account's local time.

    >>> moment("2023-03-01 00:00:00", ZoneInfo("UTC")).isoformat()
    '2023-03-01T00:00:00+00:00'
    """
    if value is None or value == 0:
        return None
    if not isinstance(value, str):
        raise TypeError(f"not a date: {value!r}")
    word = value.strip()
    if word in EMPTY or word in NO_DATE:
        return None
    parsed = datetime.fromisoformat(word)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed


def lenient(
    parse: Callable[[Any], T | None],
    raw: dict[str, Any],
    key: str,
    *,
    record: str,
) -> T | None:
    """Parse one optional field; garbage loses that field (logged), not the whole record."""
    value = raw.get(key)
    try:
        return parse(value)
    except (TypeError, ValueError):
        logger.warning("record=%s field=%s status=data_error value=%.40r", record, key, value)
        return None
