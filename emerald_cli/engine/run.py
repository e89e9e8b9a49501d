"""A sync run's life: its history row, the per-source lock, the heartbeat and the final report.

Every source's sync goes through `SyncRun`, so all of them share one lock discipline and one
report shape (what `--json` prints and `emerald runs show` reads back).
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any, TypeVar

import sqlalchemy as sa

from emerald_cli.errors import DatabaseError, SyncBusy
from emerald_cli.logs import REDACTOR
from emerald_cli.store import lock as store_lock
from emerald_cli.store import runs as store_runs
from emerald_cli.store.errors import LockHeld
from emerald_cli.store.snapshot import ChangeCounts

logger = logging.getLogger(__name__)

HEARTBEAT_S = 10.0
STALE_AFTER_S = 60.0

Target = TypeVar("Target")  # a router or stream of a run, as a report or as a stored row


@dataclass
class TargetReport:
    """One router or stream of a run, as stored in sync_targets and printed by --json."""

    name: str
    status: str
    error: str | None = None
    attempts: int = 0
    duration_s: float = 0.0
    counts: ChangeCounts = field(default_factory=ChangeCounts)
    detail: dict[str, Any] = field(default_factory=dict)
    kind: str = "router"
    retry_after: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        """The target as --json prints it; `emerald runs show --json` prints the same keys."""
        return {
            "name": self.name,
            "kind": self.kind,
            "status": self.status,
            "error": self.error,
            "attempts": self.attempts,
            "duration_s": self.duration_s,
            "counts": self.counts.as_dict(),
            "detail": self.detail,
            "retry_after": self.retry_after.isoformat() if self.retry_after else None,
        }


@dataclass
class Progress:
    """Callbacks for the terminal display: a router or stream started, one finished, and how
    far a stream's paged listing has got (records read, and of how many when announced).

    The engine works the same without them; only the parent process ever calls them, `read`
    from the thread that reads the listing ahead.
    """

    started: Callable[[str], None] = lambda _name: None
    finished: Callable[[TargetReport], None] = lambda _report: None
    read: Callable[[str, int, int | None], None] = lambda _name, _done, _total: None

    def listing(self, stream: str) -> Callable[[int, int | None], None]:
        """The page callback a source's paged listing of `stream` reports to."""
        return functools.partial(self.read, stream)


@dataclass
class RunReport:
    """The outcome of one sync; `status` decides the exit code."""

    source: str
    run_id: int | None = None
    status: str = "running"
    dry_run: bool = False
    trigger: str = "cli"
    # What ended the run early (an interruption, the database dropping), or for a run that
    # ended failed or partial, which of its targets failed.
    error: str | None = None
    targets: list[TargetReport] = field(default_factory=list)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None

    @property
    def counts(self) -> ChangeCounts:
        total = ChangeCounts()
        for target in self.targets:
            total = total + target.counts
        return total

    def settle(self) -> str:
        """ok when every target is, failed when none is, partial in between. A run that is not
        ok says why in `error`: a script or a cron mail then needs no look at the targets."""
        good = sum(target.status == "ok" for target in self.targets)
        if self.targets and good == len(self.targets):
            self.status = "ok"
        elif good == 0:
            self.status = "failed"
        else:
            self.status = "partial"
        if self.status != "ok":
            self.error = self._failures()
        self.finished_at = datetime.now(UTC)
        return self.status

    def _failures(self) -> str:
        """One line: how many targets failed of how many, and the first one's error (`2 of 3
        routers failed, first core-2 (timeout): …`), first as the summary lists them."""
        ordered = in_display_order(self.targets, attrgetter("kind"), attrgetter("name"))
        failed = [target for target in ordered if target.status != "ok"]
        if not failed:
            return "nothing was synced: the run had no routers or streams"

        kinds = {target.kind for target in self.targets}
        noun = f"{kinds.pop()}s" if len(kinds) == 1 else "targets"
        first = failed[0]
        why = " ".join((first.error or "no error recorded").split())
        return REDACTOR.scrub(
            f"{len(failed)} of {len(self.targets)} {noun} failed, "
            f"first {first.name} ({first.status}): {why}"
        )

    def as_json(self) -> dict[str, Any]:
        """The run as --json prints it; `emerald runs show --json` prints the same keys."""
        return {
            "run_id": self.run_id,
            "source": self.source,
            "trigger": self.trigger,
            "status": self.status,
            "dry_run": self.dry_run,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "error": self.error,
            "counts": self.counts.as_dict(),
            "targets": [target.as_json() for target in sorted(self.targets, key=lambda t: t.name)],
        }


def in_display_order(
    targets: Iterable[Target], kind: Callable[[Target], str], name: Callable[[Target], str]
) -> list[Target]:
    """Routers by name, to be found in a fleet; API streams in the order they ran, so that a
    stream that failed comes before the ones it left `not called`."""
    targets = list(targets)
    routers = sorted((target for target in targets if kind(target) == "router"), key=name)
    return [*routers, *(target for target in targets if kind(target) != "router")]


class SyncRun:
    """Context manager around one run: history row + lock on entry, both settled on exit."""

    def __init__(
        self, engine: sa.Engine, source: str, trigger: str, dry_run: bool = False
    ) -> None:
        self.engine = engine
        self.report = RunReport(source=source, dry_run=dry_run, trigger=trigger)
        self.trigger = trigger
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    def __enter__(self) -> SyncRun:
        if self.report.dry_run:
            return self

        source = self.report.source
        run_id = store_runs.start_run(self.engine, source, self.trigger)
        self.report.run_id = run_id
        try:
            store_lock.acquire_lock(
                self.engine, source, run_id, self.owner, stale_after_s=STALE_AFTER_S
            )
        except LockHeld as held:
            store_runs.discard_run(self.engine, run_id)
            raise SyncBusy(
                f"{held}; wait for it to finish (a lock whose run stopped beating is taken over "
                f"after {STALE_AFTER_S:g}s)"
            ) from None

        logger.info("run=%d source=%s trigger=%s started", run_id, source, self.trigger)
        self._heartbeat = threading.Thread(target=self._beat, name="heartbeat", daemon=True)
        self._heartbeat.start()
        return self

    def record(self, target: TargetReport) -> None:
        """Store the target, then count it: a record cut short (Ctrl-C) counts nowhere.

        Its error is masked first: `runs show` and --json print what the history holds."""
        if target.error:
            target.error = REDACTOR.scrub(target.error)
        if self.report.run_id is None:
            self.report.targets.append(target)
            return
        store_runs.record_target(
            self.engine,
            self.report.run_id,
            store_runs.TargetRecord(
                name=target.name,
                kind=target.kind,
                status=target.status,
                attempts=target.attempts,
                duration_s=target.duration_s,
                counts=target.counts,
                error=target.error,
                detail=target.detail,
                retry_after=target.retry_after,
            ),
        )
        self.report.targets.append(target)

    def __exit__(self, kind: type | None, error: BaseException | None, _tb: Any) -> None:
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join(timeout=5)

        if error is None:
            self.report.settle()
        else:
            interrupted = isinstance(error, KeyboardInterrupt)
            self.report.status = "interrupted" if interrupted else "failed"
            stopped = "stopped by Ctrl-C or SIGTERM"
            self.report.error = stopped if interrupted else REDACTOR.scrub(str(error))
            self.report.finished_at = datetime.now(UTC)
            # The caller gets no return value now, yet may report the run (`sync all` does).
            error.run_report = self.report  # type: ignore[union-attr]

        if self.report.run_id is not None:
            self._close_history(error)

    def _close_history(self, error: BaseException | None) -> None:
        run_id = self.report.run_id
        assert run_id is not None
        try:
            store_runs.finish_run(
                self.engine,
                run_id,
                self.report.status,
                self.report.counts,
                error=self.report.error,
            )
            store_lock.release_lock(self.engine, self.report.source, run_id)
        except sa.exc.SQLAlchemyError as failure:
            # The run's rows are already committed router by router; only its closing line
            # is lost, and the lock goes stale and is taken over by the next run.
            logger.error("run=%d could not be closed in the database: %s", run_id, failure)
            if error is None:
                raise DatabaseError(
                    f"the database dropped while closing run {run_id}: synced rows are kept; "
                    "check the database and run the sync again"
                ) from None
        logger.info(
            "run=%d source=%s status=%s%s",
            run_id,
            self.report.source,
            self.report.status,
            f" error={self.report.error}" if self.report.error else "",
        )

    def _beat(self) -> None:
        run_id = self.report.run_id
        assert run_id is not None
        while not self._stop.wait(HEARTBEAT_S):
            try:
                store_runs.heartbeat_run(self.engine, run_id)
                if not store_lock.heartbeat_lock(self.engine, self.report.source, run_id):
                    logger.error("run=%d lost its lock: another run took it over", run_id)
            except sa.exc.SQLAlchemyError as failure:
                logger.warning("run=%d heartbeat failed: %s", run_id, failure)
