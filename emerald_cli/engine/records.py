"""RouterOS rows to table rows: attribute names become columns, the rest goes to `extra`.

This runs in the worker processes, right after a poll, so the parent (which also writes the
database) spends its time on writing rather than on reshaping 50,000 dictionaries.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from emerald_cli.sources.mikrotik.durations import seconds
from emerald_cli.store import schema

# Columns whose names are not the attribute's in snake_case.
ATTRIBUTE_OF = {"ros_id": ".id", "is_default": "default"}
BOOKKEEPING = frozenset((*schema.BOOKKEEPING_COLUMNS, "router_id", "extra"))


@dataclass(frozen=True)
class Layout:
    """One table's columns and the RouterOS attribute each column holds."""

    value_columns: tuple[str, ...]
    column_of: dict[str, str]
    has_session: bool


@functools.cache
def layout(table_name: str) -> Layout:
    table = schema.metadata.tables[table_name]
    names = tuple(column.name for column in table.c if column.name not in BOOKKEEPING)
    # A computed column is worked out here from other attributes, never read from its own.
    column_of = {
        ATTRIBUTE_OF.get(name, name.replace("_", "-")): name
        for name in names
        if not table.c[name].info.get(schema.COMPUTED)
    }
    return Layout(names, column_of, "session_id" in names)


def table_rows(
    table_name: str, rows: list[dict[str, str]], read_at: datetime
) -> list[dict[str, Any]]:
    """Rows ready for `write_snapshot`: every column present (NULL when the router omits it).

    Example: {"name": "pp-1", "caller-id": "", "x-new": "1"} on ppp_secrets becomes
    {"name": "pp-1", "caller_id": "", ..., "extra": {"x-new": "1"}}. A session also gets
    `connected_at`, when it began: `read_at` (when the menu was read) less its uptime.
    """
    shape = layout(table_name)
    shaped = []
    for row in rows:
        record: dict[str, Any] = dict.fromkeys(shape.value_columns)
        extra = {}
        for attribute, value in row.items():
            column = shape.column_of.get(attribute)
            if column is None:
                extra[attribute] = value
            else:
                record[column] = value
        if shape.has_session:
            if record["session_id"] is None:
                record["session_id"] = ""
            record["connected_at"] = _began(record["uptime"], read_at)
        record["extra"] = extra or None
        shaped.append(record)
    return shaped


def _began(uptime: str | None, read_at: datetime) -> datetime | None:
    """When a session began, to the second; None when its uptime is missing or unreadable."""
    elapsed = seconds(uptime)
    if elapsed is None:
        return None
    return (read_at - timedelta(seconds=elapsed)).replace(microsecond=0)
