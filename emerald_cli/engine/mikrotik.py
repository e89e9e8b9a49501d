"""`sync mikrotik`: poll the fleet in the pool and write each router as soon as it answers.

Each router's rows are written in one transaction of their own, so a reader sees a router
either as it was or as it is now, and a router whose poll failed is not touched at all. The
writes happen in this (parent) process while the workers go on polling.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from emerald_cli.engine.pool import PoolEvent, poll_fleet
from emerald_cli.engine.run import SyncRun, TargetReport
from emerald_cli.errors import DatabaseError
from emerald_cli.logs import REDACTOR, listen_to_workers
from emerald_cli.sources.mikrotik.poll import PollResult, RouterTarget
from emerald_cli.store import schema
from emerald_cli.store.snapshot import (
    ChangeCounts,
    mark_router_polled,
    upsert_router,
    write_snapshot,
)

logger = logging.getLogger(__name__)

SOURCE = "mikrotik"

# Natural keys: RouterOS `.id` values are reassigned on reboot, names are what people use.
KEYS = {
    "ppp_secrets": ("router_id", "name"),
    "ppp_active": ("router_id", "name", "session_id"),
    "ppp_profiles": ("router_id", "name"),
    "queues": ("router_id", "name"),
}


@dataclass
class Progress:
    """Callbacks for the terminal display; the engine works the same without them."""

    started: Callable[[str], None] = lambda _name: None
    finished: Callable[[TargetReport], None] = lambda _report: None


def sync_mikrotik(
    engine: sa.Engine,
    targets: list[RouterTarget],
    *,
    workers: int,
    trigger: str = "cli",
    dry_run: bool = False,
    progress: Progress | None = None,
) -> SyncRun:
    """Poll `targets` and store what they hold; returns the finished run with its report."""
    progress = progress or Progress()
    for target in targets:
        REDACTOR.add(target.password)

    log_queue = multiprocessing.get_context("spawn").Queue()
    listener = listen_to_workers(log_queue)
    try:
        with SyncRun(engine, SOURCE, trigger, dry_run=dry_run) as run:
            for event in poll_fleet(targets, workers, log_queue):
                _handle(engine, run, event, progress, dry_run)
    finally:
        listener.stop()
    return run


def _handle(
    engine: sa.Engine, run: SyncRun, event: PoolEvent, progress: Progress, dry_run: bool
) -> None:
    if event.kind == "started":
        progress.started(event.name)
        return

    result = event.result
    assert result is not None
    report = TargetReport(
        name=result.name,
        status=result.status,
        error=result.error,
        attempts=result.attempts,
        duration_s=result.duration_s,
    )
    if result.ok:
        report.counts, report.detail = _write_router(engine, result, dry_run)
        if result.skipped:
            report.error = "; ".join(f"{table}: {why}" for table, why in result.skipped.items())

    run.record(report)
    progress.finished(report)


def _write_router(
    engine: sa.Engine, result: PollResult, dry_run: bool
) -> tuple[ChangeCounts, dict[str, Any]]:
    """Write one router's tables in one transaction; a dry run rolls it back."""
    now = datetime.now(UTC)
    total = ChangeCounts()
    detail: dict[str, Any] = {}

    try:
        with engine.connect() as conn:
            transaction = conn.begin()
            router_id = _router_row(conn, result, now)
            for table_name, rows in result.tables.items():
                counts = write_snapshot(
                    conn,
                    schema.metadata.tables[table_name],
                    {"router_id": router_id},
                    KEYS[table_name],
                    rows,
                    now,
                    dry_run=dry_run,
                )
                detail[table_name] = counts.as_dict()
                total = total + counts
            if result.skipped:
                detail["skipped"] = result.skipped
            if dry_run:
                transaction.rollback()
            else:
                transaction.commit()
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
