"""Run an API source as a list of streams, each read whole and written all-or-nothing.

A stream (customers, connections, ONUs, ...) is written only after it was read completely and
normalised; any failure part-way leaves its stored tables exactly as they were and becomes the
stream's status in the run history. After a rate-limit answer the source is not called again
in this run: the streams still to come are recorded as rate limited, not attempted.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any

import sqlalchemy as sa

from emerald_cli.engine.read_ahead import ReadAhead
from emerald_cli.engine.run import Progress, SyncRun, TargetReport
from emerald_cli.errors import DatabaseError
from emerald_cli.sources.errors import AuthFailed, RateLimited, SourceError
from emerald_cli.sources.streams import Skipped
from emerald_cli.store import schema
from emerald_cli.store.database import transaction
from emerald_cli.store.snapshot import ChangeCounts, write_snapshot

logger = logging.getLogger(__name__)


@dataclass
class TableSnapshot:
    """The complete new content of one table, as rows keyed by column name."""

    table: str
    key: tuple[str, ...]
    rows: list[dict[str, Any]]


@dataclass
class StreamData:
    """What one stream produced: its table snapshots, and the records left out, and why."""

    snapshots: list[TableSnapshot] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    # Run inside the stream's transaction after its snapshots (e.g. nodes → routers).
    extra_write: Callable[[sa.Connection, datetime], dict[str, Any]] | None = None


@dataclass
class Stream:
    """One API stream: how to read it and how to turn what was read into table snapshots."""

    name: str
    read: Callable[[], Any]
    shape: Callable[[Any], StreamData]


def run_streams(
    run: SyncRun,
    engine: sa.Engine,
    streams: Iterable[Stream],
    requests_made: Callable[[], int],
    progress: Progress | None = None,
) -> None:
    """Read and write each stream in turn, recording one target per stream."""
    progress = progress or Progress()
    stopped_by: SourceError | None = None

    for stream in streams:
        progress.started(stream.name)
        if stopped_by is not None:
            report = _not_called(stream.name, stopped_by)
        else:
            report, stopped_by = _one_stream(engine, stream, requests_made, run.report.dry_run)
        run.record(report)
        progress.finished(report)


def _one_stream(
    engine: sa.Engine, stream: Stream, requests_made: Callable[[], int], dry_run: bool
) -> tuple[TargetReport, SourceError | None]:
    """The stream's report, and the error that must stop calling the source, if one did.

    A rate limit or refused credentials will answer the next stream the same way, and every
    call spends the account's budget, so the source is not called again in this run.
    """
    started, requests_before = time.monotonic(), requests_made()
    report = TargetReport(name=stream.name, status="ok", kind="stream", attempts=1)
    limited = None

    try:
        with _collector_paused():
            data = _read_and_shape(stream)
            report.counts, report.detail = _write(engine, data, dry_run)
    except RateLimited as error:
        report.status, report.error = error.status, str(error)
        report.retry_after, limited = error.retry_after, error
    except AuthFailed as error:
        report.status, report.error, limited = error.status, str(error), error
    except SourceError as error:
        report.status, report.error = error.status, str(error)
    except DatabaseError:
        raise
    except Exception as error:
        logger.exception("stream=%s status=crashed", stream.name)
        report.status, report.error = "crashed", f"{type(error).__name__}: {error}"

    report.duration_s = round(time.monotonic() - started, 3)
    report.detail["requests"] = requests_made() - requests_before
    logger.info(
        "stream=%s status=%s requests=%d duration=%.2fs%s",
        stream.name,
        report.status,
        report.detail["requests"],
        report.duration_s,
        f" error={report.error}" if report.error else "",
    )
    return report, limited


def _read_and_shape(stream: Stream) -> StreamData:
    """The stream shaped; a listing read ahead in its thread is finished with before return."""
    rows = stream.read()
    if not isinstance(rows, ReadAhead):
        return stream.shape(rows)

    try:
        data = stream.shape(rows)
    except BaseException as error:
        # The next stream uses the same client, so wait for a request in flight to end;
        # unless the run is being interrupted, which must not wait on a slow service.
        rows.close(wait=isinstance(error, Exception))
        raise
    rows.close()
    return data


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Keep Python's cycle collector out of one stream's work, and let it run after.

    A stream holds its whole listing in memory: hundreds of thousands of records and rows
    that live until it is written and that form no reference cycles. The collector would walk
    that growing heap again and again for nothing (a fifth of a warm 135,000-row sync); once
    the stream is done, whatever cycles it left are collected as usual.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _write(
    engine: sa.Engine, data: StreamData, dry_run: bool
) -> tuple[ChangeCounts, dict[str, Any]]:
    """Every table of the stream in one transaction: all of them change, or none."""
    now = datetime.now(UTC)
    total = ChangeCounts()
    detail: dict[str, Any] = {}

    try:
        with transaction(engine, dry_run) as conn:
            for snapshot in data.snapshots:
                counts = write_snapshot(
                    conn,
                    schema.metadata.tables[snapshot.table],
                    {},
                    snapshot.key,
                    snapshot.rows,
                    now,
                    dry_run=dry_run,
                )
                detail[snapshot.table] = counts.as_dict()
                total = total + counts
            if data.extra_write is not None:
                detail.update(data.extra_write(conn, now))
    except sa.exc.DBAPIError as error:
        reason = str(getattr(error, "orig", error)).strip().splitlines()[0]
        raise DatabaseError(
            f"the database failed while writing {', '.join(detail) or 'a stream'} ({reason}): "
            "streams already written are kept, this one was rolled back; run the sync again"
        ) from None

    if data.skipped:
        detail["skipped"] = len(data.skipped)
        detail["skipped_examples"] = [item.reason for item in data.skipped[:5]]
    return total, detail


def _not_called(name: str, cause: SourceError) -> TargetReport:
    if not isinstance(cause, RateLimited):
        return TargetReport(
            name=name, status=cause.status, kind="stream", error=f"not called: {cause}"
        )
    when = cause.retry_after.isoformat(timespec="seconds") if cause.retry_after else "later"
    return TargetReport(
        name=name,
        status="rate_limited",
        kind="stream",
        error=f"not called: the rate limit of {cause.method} was reached; try after {when}",
        retry_after=cause.retry_after,
    )


def columns_of(record: Any, renamed: dict[str, str] | None = None) -> dict[str, Any]:
    """A record dataclass as a row: its fields, some renamed (e.g. id → customer_id)."""
    read, columns = _row_layout(type(record), tuple(renamed.items()) if renamed else ())
    return dict(zip(columns, read(record), strict=True))


@functools.cache
def _row_layout(
    kind: type, renamed: tuple[tuple[str, str], ...]
) -> tuple[Callable[[Any], tuple[Any, ...]], tuple[str, ...]]:
    """How to read a record type's fields as a tuple, and their column names: worked out once
    per type, since a stream turns tens of thousands of records into rows."""
    names = [item.name for item in fields(kind)]
    new_names = dict(renamed)
    getter = attrgetter(*names)
    read = getter if len(names) > 1 else lambda record: (getter(record),)
    return read, tuple(new_names.get(name, name) for name in names)
