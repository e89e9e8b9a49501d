"""One run at a time per source, across processes and machines, held in the database.

The lock is a sync_locks row. Its holder refreshes heartbeat_at; a lock whose heartbeat is
older than `stale_after_s` belongs to a run that died, and the next run takes it over with an
UPDATE conditional on the heartbeat it saw, so of two runs taking over only one can win. A
holder that ran on this machine and whose process is gone is known dead at once: a killed
sync does not block the next one for a minute.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from emerald_cli.store.database import database_now
from emerald_cli.store.errors import LockHeld, StoreError
from emerald_cli.store.runs import mark_run_interrupted
from emerald_cli.store.schema import sync_locks

logger = logging.getLogger(__name__)

# Rounds of insert / read / take over before giving up on a lock that keeps changing hands.
ACQUIRE_ATTEMPTS = 3


def acquire_lock(
    engine: sa.Engine, source: str, run_id: int, owner: str, stale_after_s: float = 60
) -> None:
    """Take the lock of `source` for `run_id`, or raise LockHeld naming the run that has it.

    A stale lock is taken over and its run is marked interrupted in the same transaction.
    Taking a lock this run already holds just refreshes it.
    """
    for _attempt in range(ACQUIRE_ATTEMPTS):
        with engine.begin() as conn:
            now = database_now(conn)
            if _insert(conn, source, run_id, owner, now):
                logger.info("lock source=%s taken by run=%d owner=%s", source, run_id, owner)
                return

            held = current_lock(conn, source)
            if held is None:
                continue  # released between our insert and our read

            if held["run_id"] == run_id:
                if _refresh(conn, source, run_id, now):
                    return
                continue  # taken over between our read and our refresh

            age_s = (now - held["heartbeat_at"]).total_seconds()
            gone = _holder_gone(held["owner"])
            if age_s <= stale_after_s and not gone:
                raise LockHeld(
                    source,
                    held["run_id"],
                    held["owner"],
                    held["acquired_at"],
                    held["heartbeat_at"],
                )

            if _take_over(conn, held, run_id, owner, now):
                silence = (
                    f"its process {held['owner']} is gone"
                    if gone
                    else f"no heartbeat for {age_s:.0f}s"
                )
                _interrupt_previous(conn, held, run_id, now, silence)
                return

    raise StoreError(f"the {source} lock kept changing hands while run {run_id} took it")


def heartbeat_lock(engine: sa.Engine, source: str, run_id: int) -> bool:
    """Refresh the lock; False means another run took it over and this run should stop."""
    with engine.begin() as conn:
        return _refresh(conn, source, run_id, database_now(conn))


def release_lock(engine: sa.Engine, source: str, run_id: int) -> bool:
    """Let the lock go; False if `run_id` no longer held it."""
    with engine.begin() as conn:
        result = conn.execute(
            sync_locks.delete().where(sync_locks.c.source == source, sync_locks.c.run_id == run_id)
        )

    released = result.rowcount == 1
    if released:
        logger.info("lock source=%s released by run=%d", source, run_id)
    else:
        logger.warning("lock source=%s was no longer held by run=%d", source, run_id)
    return released


def current_lock(bind: sa.Engine | sa.Connection, source: str) -> dict[str, Any] | None:
    """Who holds the lock of `source`, as a dict of the sync_locks row, or None."""
    query = sa.select(sync_locks).where(sync_locks.c.source == source)
    if isinstance(bind, sa.Connection):
        row = bind.execute(query).mappings().first()
    else:
        with bind.connect() as conn:
            row = conn.execute(query).mappings().first()
    return dict(row) if row is not None else None


def _holder_gone(owner: str) -> bool:
    """Whether the holder ("host:pid") ran here and its process no longer exists.

    Only a process of this machine can be looked at; a host name as plain as "localhost" may
    be another machine's too, so it tells nothing. A pid taken again by another process only
    makes the lock look alive, and the heartbeat's age settles it as before.
    """
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or host in ("", "localhost") or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # it exists, under another user
    return False


def _insert(conn: sa.Connection, source: str, run_id: int, owner: str, now: datetime) -> bool:
    """Create the lock row unless one exists; True if this call created it."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(sync_locks)
        .values(source=source, run_id=run_id, owner=owner, acquired_at=now, heartbeat_at=now)
        .on_conflict_do_nothing(index_elements=[sync_locks.c.source])
    )
    return conn.execute(statement).rowcount == 1


def _refresh(conn: sa.Connection, source: str, run_id: int, now: datetime) -> bool:
    result = conn.execute(
        sync_locks.update()
        .where(sync_locks.c.source == source, sync_locks.c.run_id == run_id)
        .values(heartbeat_at=now)
    )
    return result.rowcount == 1


def _take_over(
    conn: sa.Connection, held: dict[str, Any], run_id: int, owner: str, now: datetime
) -> bool:
    """Move a stale lock to `run_id` only if nobody touched it since we read it."""
    result = conn.execute(
        sync_locks.update()
        .where(
            sync_locks.c.source == held["source"],
            sync_locks.c.run_id == held["run_id"],
            sync_locks.c.heartbeat_at == held["heartbeat_at"],
        )
        .values(run_id=run_id, owner=owner, acquired_at=now, heartbeat_at=now)
    )
    return result.rowcount == 1


def _interrupt_previous(
    conn: sa.Connection, held: dict[str, Any], run_id: int, now: datetime, silence: str
) -> None:
    reason = (
        f"interrupted: {silence}, lock taken over by run {run_id} at {now:%Y-%m-%d %H:%M:%S} UTC"
    )
    mark_run_interrupted(conn, held["run_id"], reason, now)
    logger.warning(
        "lock source=%s taken over by run=%d from run=%d owner=%s: %s",
        held["source"],
        run_id,
        held["run_id"],
        held["owner"],
        silence,
    )
