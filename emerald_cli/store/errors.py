"""Errors the store raises on purpose, each knowing whether trying again later can help.

Every class rebuilds itself from its own fields when unpickled, so an error crosses a process
pool with its message and attributes intact.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from emerald_cli.errors import DatabaseError


class StoreError(DatabaseError):
    """Root of the store's errors; the message is one line meant for people."""

    retryable = False


class DatabaseUnavailable(StoreError):
    """The database cannot be reached at all (refused, unknown host, unwritable file)."""

    retryable = True

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot connect to the database {url}: {reason}")
        self.url = url
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.url, self.reason))


class SchemaOutdated(StoreError):
    """The database lacks migrations this version of emerald needs."""

    def __init__(self, current: str | None, pending: list[str]) -> None:
        at = f"revision {current}" if current else "an empty database (no revision)"
        super().__init__(
            f"the database schema is out of date: it is at {at} and "
            f"{len(pending)} migration(s) are pending ({', '.join(pending)}); "
            "run `emerald db upgrade`"
        )
        self.current = current
        self.pending = list(pending)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.current, self.pending))


class SchemaNewer(StoreError):
    """The database was migrated by a newer emerald; this one must not write to it."""

    def __init__(self, current: str) -> None:
        super().__init__(
            f"the database schema is at revision {current}, which this version of emerald "
            "does not know: upgrade emerald"
        )
        self.current = current

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.current,))


class LockHeld(StoreError):
    """Another run of the same source holds a fresh lock; waiting for it can help."""

    retryable = True

    def __init__(
        self,
        source: str,
        run_id: int,
        owner: str,
        since: datetime,
        heartbeat_at: datetime,
    ) -> None:
        super().__init__(
            f"another {source} sync is running: run {run_id} on {owner} "
            f"since {since:%H:%M:%S} UTC (last heartbeat {heartbeat_at:%H:%M:%S} UTC)"
        )
        self.source = source
        self.run_id = run_id
        self.owner = owner
        self.since = since
        self.heartbeat_at = heartbeat_at

    def __reduce__(self) -> tuple[Any, ...]:
        fields = (self.source, self.run_id, self.owner, self.since, self.heartbeat_at)
        return (type(self), fields)
