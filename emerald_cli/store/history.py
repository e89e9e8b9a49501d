"""Append-only tables, such as every optical reading of every ONU: rows are added, never diffed.

A reading taken twice is two facts, so there is nothing to compare with what is stored; the
rows go in as a batch, inside the caller's transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa

from emerald_cli.store.database import bind_processor
from emerald_cli.store.timestamps import UtcDateTime, require_aware

logger = logging.getLogger(__name__)


def append_rows(conn: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> int:
    """Insert `rows` into `table` and return how many were written.

    A column a row leaves out is stored as NULL (the database fills `id`). A naive datetime
    is refused with ValueError before anything is written, on every database.
    """
    if not rows:
        return 0

    columns = _columns(table, rows)
    records = [tuple(map(row.get, columns)) for row in rows]
    _require_aware_times(table, columns, records)

    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        _copy(conn, table, columns, records)
    else:
        conn.execute(
            table.insert(), [dict(zip(columns, record, strict=True)) for record in records]
        )

    logger.debug("table=%s appended=%d", table.name, len(records))
    return len(records)


def _columns(table: sa.Table, rows: Sequence[dict[str, Any]]) -> tuple[str, ...]:
    """Every column some row names, in table order; an unknown name is refused."""
    named: set[str] = set().union(*rows)
    in_table = tuple(column.name for column in table.c)
    unknown = sorted(named.difference(in_table))
    if unknown:
        raise ValueError(f"{table.name} has no column(s) {', '.join(unknown)}")
    return tuple(name for name in in_table if name in named)


def _require_aware_times(
    table: sa.Table, columns: tuple[str, ...], records: list[tuple[Any, ...]]
) -> None:
    """The check UtcDateTime makes while binding, done first so both paths fail alike."""
    positions = [
        index for index, name in enumerate(columns) if isinstance(table.c[name].type, UtcDateTime)
    ]
    for record in records:
        for index in positions:
            if record[index] is not None:
                require_aware(record[index])


def _copy(
    conn: sa.Connection,
    table: sa.Table,
    columns: tuple[str, ...],
    records: list[tuple[Any, ...]],
) -> None:
    """COPY on the caller's psycopg connection, so the rows share its transaction.

    COPY skips SQLAlchemy's binding, so each column's bind processor is applied here: that is
    where UtcDateTime turns an aware time to UTC.
    """
    preparer = conn.dialect.identifier_preparer
    names = ", ".join(preparer.quote(name) for name in columns)
    statement = f"COPY {preparer.format_table(table)} ({names}) FROM STDIN"
    processors = [bind_processor(conn, table.c[name]) for name in columns]

    raw = conn.connection.dbapi_connection
    assert raw is not None
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        for record in _processed(records, processors):
            copy.write_row(record)


def _processed(records: list[tuple[Any, ...]], processors: list[Any]) -> Iterator[tuple[Any, ...]]:
    if not any(processors):
        yield from records
        return

    for record in records:
        yield tuple(
            value if process is None else process(value)
            for process, value in zip(processors, record, strict=True)
        )
