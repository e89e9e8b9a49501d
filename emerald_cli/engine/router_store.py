"""Write one polled router into the store: its row and every table it answered, in one go.

It runs inside the worker that polled the router, on an engine that worker opened itself,
so the rows never cross a process boundary and the writing is spread over every core.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from emerald_cli.engine.records import table_rows
from emerald_cli.errors import DatabaseError
from emerald_cli.sources.mikrotik.poll import PollResult
from emerald_cli.store import schema
from emerald_cli.store.database import make_engine, transaction
from emerald_cli.store.snapshot import (
    ChangeCounts,
    mark_router_polled,
    upsert_router,
    write_snapshot,
)

logger = logging.getLogger(__name__)

# Natural keys: RouterOS `.id` values are reassigned on reboot, names are what people use.
KEYS = {
    "ppp_secrets": ("router_id", "name"),
    "ppp_active": ("router_id", "name", "session_id"),
    "ppp_profiles": ("router_id", "name"),
    "queues": ("router_id", "name"),
}


class RouterWriter:
    """A worker's one engine and its write lock: its threads write one router at a time.

    SQLite takes one writer at a time anyway, and on PostgreSQL one writer per process
    already keeps every core busy without a pile of idle connections.
    """

    def __init__(self, database_url: str, dry_run: bool) -> None:
        self.database_url = database_url
        self.dry_run = dry_run
        self._engine: sa.Engine | None = None
        self._lock = threading.Lock()

    def write(self, result: PollResult) -> tuple[ChangeCounts, dict[str, Any]]:
        with self._lock:
            if self._engine is None:
                self._engine = make_engine(self.database_url)
            return write_router(self._engine, result, self.dry_run)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


def write_router(
    engine: sa.Engine, result: PollResult, dry_run: bool
) -> tuple[ChangeCounts, dict[str, Any]]:
    """Write one router's tables in one transaction; a dry run rolls it back."""
    now = datetime.now(UTC)
    total = ChangeCounts()
    detail: dict[str, Any] = {}

    try:
        with transaction(engine, dry_run) as conn:
            router_id = _router_row(conn, result, now)
            for table_name, rows in result.tables.items():
                counts = write_snapshot(
                    conn,
                    schema.metadata.tables[table_name],
                    {"router_id": router_id},
                    KEYS[table_name],
                    table_rows(table_name, rows, result.read_at.get(table_name, now)),
                    now,
                    dry_run=dry_run,
                )
                detail[table_name] = counts.as_dict()
                total = total + counts
            if result.skipped:
                detail["skipped"] = result.skipped
    except sa.exc.DBAPIError as error:
        raise DatabaseError(
            f"the database dropped while writing router {result.name} "
            f"({_first_line(error)}): routers already written are kept, this one was rolled "
            "back; check the database and run the sync again"
        ) from None
    return total, detail


def _router_row(conn: sa.Connection, result: PollResult, now: datetime) -> int:
    router_id = upsert_router(conn, name=result.name, host=result.host, port=result.port)
    mark_router_polled(
        conn,
        router_id,
        identity=result.identity,
        version=result.resource.get("version"),
        board=result.resource.get("board-name"),
        uptime=result.resource.get("uptime"),
        now=now,
    )
    return router_id


def _first_line(error: Exception) -> str:
    return str(getattr(error, "orig", error)).strip().splitlines()[0]
