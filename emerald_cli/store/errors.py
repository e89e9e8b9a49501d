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
    """The database cannot be reached at all (refused, unknown host, unwritable file).

    `misconfigured` when the URL itself is wrong (a database or a folder that does not
    exist): the reason then says what to fix, and waiting for the database cannot help.
    """

    retryable = True

    def __init__(self, url: str, reason: str, misconfigured: bool = False) -> None:
        super().__init__(f"cannot connect to the database {url}: {reason}")
        self.url = url
        self.reason = reason
        self.misconfigured = misconfigured
        self.retryable = not misconfigured

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.url, self.reason, self.misconfigured))


class SchemaOutdated(StoreError):
    """The database lacks migrations this version of emerald needs, and the command may not
    apply them (a dry run, a read): `emerald db upgrade` is asked for, not a retry."""

    exit_code = 2

    def __init__(self, current: str | None, pending: list[str]) -> None:
        at = f"is at revision {current}" if current else "has no emerald tables yet"
        super().__init__(
            f"the database schema is out of date: it {at} and "
            f"{len(pending)} migration(s) are pending ({', '.join(pending)}); "
            "run `emerald db upgrade`"
        )
        self.current = current
        self.pending = list(pending)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.current, self.pending))


class SchemaNewer(StoreError):
    """The database was migrated by a newer emerald; this one must not write to it."""

    exit_code = 2

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


class DatabaseFailed(StoreError):
    """A statement failed on the database's side (a locked SQLite file, a dropped connection,
    a full disk) where no more particular error applies; the transaction was rolled back."""

    def __init__(self, reason: str) -> None:
        super().__init__(
            f"the database failed ({reason}): what was written before is kept; "
            "check the database and run the command again"
        )
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.reason,))

    @classmethod
    def from_driver(cls, error: BaseException) -> DatabaseFailed:
        """The driver's own first line, without SQLAlchemy's SQL, parameters and links."""
        cause = getattr(error, "orig", None) or error
        lines = str(cause).strip().splitlines()
        reason = lines[0] if lines else type(cause).__name__
        if "database is locked" in reason:
            reason += ": another program holds the SQLite file"
        return cls(reason)
