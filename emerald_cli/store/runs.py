"""Run history: one sync_runs row per sync and one sync_targets row per router or stream.

Rows go in as they happen, each in a short transaction of its own, so `emerald runs` shows a
run in progress and a crashed run keeps everything it recorded before dying.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from emerald_cli.store.counts import ChangeCounts
from emerald_cli.store.database import database_now
from emerald_cli.store.schema import sync_runs, sync_targets
from emerald_cli.store.statuses import (
    FINAL_RUN_STATUSES,
    RUN_STATUSES,
    TARGET_STATUSES,
    TRIGGERS,
)

__all__ = [
    "RUN_STATUSES",
    "TARGET_STATUSES",
    "TRIGGERS",
    "TargetRecord",
    "finish_run",
    "get_run",
    "heartbeat_run",
    "interrupt_stale_runs",
    "list_runs",
    "mark_run_interrupted",
    "record_target",
    "start_run",
    "targets_since",
]

logger = logging.getLogger(__name__)


@dataclass
class TargetRecord:
    """How one router or API stream of a run ended.

    Example: TargetRecord(name="core-1", kind="router", status="timeout", attempts=3,
    duration_s=30.2, error="no reply after 10.0s").
    """

    name: str
    kind: str
    status: str
    attempts: int = 1
    duration_s: float = 0.0
    counts: ChangeCounts = field(default_factory=ChangeCounts)
    error: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    retry_after: datetime | None = None


def start_run(engine: sa.Engine, source: str, trigger: str, dry_run: bool = False) -> int:
    """Open a run in state "running" and return its id."""
    if trigger not in TRIGGERS:
        raise ValueError(f"trigger {trigger!r} is not one of {', '.join(TRIGGERS)}")

    with engine.begin() as conn:
        now = database_now(conn)
        result = conn.execute(
            sync_runs.insert().values(
                source=source,
                trigger=trigger,
                started_at=now,
                heartbeat_at=now,
                status="running",
                dry_run=dry_run,
                host=socket.gethostname(),
                pid=os.getpid(),
            )
        )
        run_id = int(result.inserted_primary_key[0])

    logger.debug("run=%d source=%s trigger=%s opened", run_id, source, trigger)
    return run_id


def record_target(engine: sa.Engine, run_id: int, target: TargetRecord) -> int:
    """Store how one target of the run ended; returns the sync_targets id."""
    if target.status not in TARGET_STATUSES:
        raise ValueError(
            f"target status {target.status!r} is not one of {', '.join(TARGET_STATUSES)}"
        )

    with engine.begin() as conn:
        result = conn.execute(
            sync_targets.insert().values(
                run_id=run_id,
                name=target.name,
                kind=target.kind,
                status=target.status,
                attempts=target.attempts,
                duration_s=target.duration_s,
                **target.counts.as_dict(),
                error=target.error,
                detail=json.dumps(target.detail, sort_keys=True, ensure_ascii=False, default=str),
                retry_after=target.retry_after,
            )
        )
        return int(result.inserted_primary_key[0])


def finish_run(
    engine: sa.Engine,
    run_id: int,
    status: str,
    counts: ChangeCounts,
    error: str | None = None,
) -> None:
    """Close the run with its final status and totals."""
    if status not in FINAL_RUN_STATUSES:
        raise ValueError(f"final status {status!r} is not one of {', '.join(FINAL_RUN_STATUSES)}")

    with engine.begin() as conn:
        previous = conn.execute(
            sa.select(sync_runs.c.status).where(sync_runs.c.id == run_id)
        ).scalar_one_or_none()
        if previous is None:
            raise ValueError(f"no run with id {run_id}")
        if previous != "running":
            logger.warning(
                "run=%d was already %s when it finished as %s", run_id, previous, status
            )

        conn.execute(
            sync_runs.update()
            .where(sync_runs.c.id == run_id)
            .values(
                status=status,
                finished_at=database_now(conn),
                error=error,
                **counts.as_dict(),
            )
        )


def heartbeat_run(engine: sa.Engine, run_id: int) -> bool:
    """Show the run is alive; False when it is no longer running (e.g. marked interrupted)."""
    with engine.begin() as conn:
        result = conn.execute(
            sync_runs.update()
            .where(sync_runs.c.id == run_id, sync_runs.c.status == "running")
            .values(heartbeat_at=database_now(conn))
        )
        return result.rowcount == 1


def mark_run_interrupted(conn: sa.Connection, run_id: int, reason: str, now: datetime) -> bool:
    """End a run that stopped without closing itself; False if it was not running.

    Its totals are those of the targets it recorded before it stopped: their rows were
    written, so `runs` must count them as a run that closed itself would have."""
    changes = tuple(ChangeCounts().as_dict())
    totals = conn.execute(
        sa.select(
            *(sa.func.coalesce(sa.func.sum(sync_targets.c[name]), 0) for name in changes)
        ).where(sync_targets.c.run_id == run_id)
    ).one()
    result = conn.execute(
        sync_runs.update()
        .where(sync_runs.c.id == run_id, sync_runs.c.status == "running")
        .values(
            status="interrupted",
            finished_at=now,
            error=reason,
            **dict(zip(changes, totals, strict=True)),
        )
    )
    return result.rowcount == 1


def interrupt_stale_runs(
    engine: sa.Engine, stale_after_s: float = 300.0, source: str | None = None
) -> list[int]:
    """Mark as interrupted the running runs whose heartbeat stopped long ago; returns ids."""
    with engine.begin() as conn:
        now = database_now(conn)
        cutoff = now - timedelta(seconds=stale_after_s)
        query = sa.select(sync_runs.c.id, sync_runs.c.heartbeat_at).where(
            sync_runs.c.status == "running",
            sa.func.coalesce(sync_runs.c.heartbeat_at, sync_runs.c.started_at) < cutoff,
        )
        if source is not None:
            query = query.where(sync_runs.c.source == source)

        interrupted = []
        for run_id, heartbeat_at in conn.execute(query.order_by(sync_runs.c.id)):
            since = f"{heartbeat_at:%Y-%m-%d %H:%M:%S} UTC" if heartbeat_at else "its start"
            if mark_run_interrupted(conn, run_id, f"no heartbeat since {since}", now):
                interrupted.append(run_id)

    for run_id in interrupted:
        logger.warning("run=%d marked interrupted: its heartbeat stopped", run_id)
    return interrupted


def list_runs(
    engine: sa.Engine, limit: int = 20, source: str | None = None
) -> list[dict[str, Any]]:
    """The newest runs first, as plain dicts of the sync_runs columns."""
    query = sa.select(sync_runs).order_by(sync_runs.c.id.desc()).limit(max(limit, 0))
    if source is not None:
        query = query.where(sync_runs.c.source == source)

    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def get_run(engine: sa.Engine, run_id: int) -> dict[str, Any] | None:
    """One run with its targets under "targets" (detail decoded), or None if unknown."""
    with engine.connect() as conn:
        run = conn.execute(sa.select(sync_runs).where(sync_runs.c.id == run_id)).mappings().first()
        if run is None:
            return None

        targets = conn.execute(
            sa.select(sync_targets)
            .where(sync_targets.c.run_id == run_id)
            .order_by(sync_targets.c.id)
        ).mappings()
        return {**run, "targets": [_target_dict(target) for target in targets]}


@dataclass(frozen=True)
class RecentTarget:
    """A target of a recent run, with when its run last worked: RecentTarget(run_ended_at=...,
    name="onus", detail={"requests": 11, ...})."""

    run_ended_at: datetime
    name: str
    detail: dict[str, Any]


def targets_since(
    engine: sa.Engine, source: str, window: timedelta
) -> tuple[datetime, list[RecentTarget]]:
    """The database's time now, and the targets of the source's runs that were at work within
    `window` of it: ended then, or still beating (dry runs and the runs of other hosts
    included: they spend a vendor's budget too). A run is timed by its end, the latest its
    calls can have been made."""
    runs = sync_runs.c
    # coalesce() takes the type of its first argument: times come back aware, as stored.
    ended = sa.func.coalesce(runs.finished_at, runs.heartbeat_at, runs.started_at)
    with engine.connect() as conn:
        now = database_now(conn)
        rows = conn.execute(
            sa.select(ended, sync_targets.c.name, sync_targets.c.detail)
            .join(sync_targets, sync_targets.c.run_id == sync_runs.c.id)
            .where(sync_runs.c.source == source, ended >= now - window)
            .order_by(ended)
        ).all()

    return now, [
        RecentTarget(ended_at, name, json.loads(detail) if detail else {})
        for ended_at, name, detail in rows
    ]


def _target_dict(row: sa.RowMapping) -> dict[str, Any]:
    target = dict(row)
    target["detail"] = json.loads(target["detail"]) if target["detail"] else {}
    return target


def discard_run(engine: sa.Engine, run_id: int) -> None:
    """Forget a run that never started (it found the source locked): it did nothing."""
    with engine.begin() as conn:
        conn.execute(sync_targets.delete().where(sync_targets.c.run_id == run_id))
        conn.execute(sync_runs.delete().where(sync_runs.c.id == run_id))
