"""Run an API source as a list of streams, each read whole and written all-or-nothing.

A stream (customers, connections, ONUs, ...) is written only after it was read completely and
normalised; any failure part-way leaves its stored tables exactly as they were and becomes the
stream's status in the run history. After a rate-limit answer the source is not called again
in this run: the streams still to come are recorded as rate limited, not attempted.

Writing a stream is mostly waiting on the database and reading one mostly waiting on the
service, so while one stream is written the next is read, in a thread of its own. Only one
stream is ever read at a time (the client has a single user) and all database work stays in
the calling thread.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from operator import attrgetter, itemgetter
from typing import Any

import sqlalchemy as sa

from emerald_cli.engine.read_ahead import ReadAhead
from emerald_cli.engine.run import Progress, SyncRun, TargetReport
from emerald_cli.errors import DatabaseError, UsageError
from emerald_cli.sources.errors import RateLimited, SourceError
from emerald_cli.sources.streams import Skipped
from emerald_cli.store import schema
from emerald_cli.store.database import transaction
from emerald_cli.store.snapshot import ChangeCounts, DeferredRow, write_snapshot

logger = logging.getLogger(__name__)


@dataclass
class TableSnapshot:
    """The complete new content of one table: rows keyed by column name, or deferred rows
    that are built only where the stored row differs."""

    table: str
    key: tuple[str, ...]
    rows: list[dict[str, Any]] | list[DeferredRow]

    def keys(self) -> list[Any]:
        """Each row's natural key: its key column's value, or a tuple of them for a key of
        several columns. A snapshot's rows are all of one kind, plain or deferred."""
        if self.rows and type(self.rows[0]) is DeferredRow:
            deferred: list[DeferredRow] = self.rows  # type: ignore[assignment]
            if len(self.key) > 1:
                return [row.key for row in deferred]
            return [row.key[0] for row in deferred]
        return list(map(itemgetter(*self.key), self.rows))


@dataclass
class StreamData:
    """What one stream produced: its table snapshots, and the records left out, and why."""

    snapshots: list[TableSnapshot] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    # Run inside the stream's transaction after its snapshots (e.g. nodes → routers).
    extra_write: Callable[[sa.Connection, datetime], dict[str, Any]] | None = None


# The client's requests sent so far, and how many of those were retries of an earlier one.
CallsMade = Callable[[], tuple[int, int]]


@dataclass
class Stream:
    """One API stream: how to read it and how to turn what was read into table snapshots."""

    name: str
    read: Callable[[], Any]
    shape: Callable[[Any], StreamData]
    # Known before reading, kept in the target's detail however the stream ends.
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Read:
    """What reading one stream came to: its data, or the error that stopped it."""

    data: StreamData | None
    error: BaseException | None
    requests: int
    retries: int
    duration_s: float

    def unwrapped(self) -> StreamData:
        """The data; the read's error, raised here in the caller's thread, if there is none."""
        if self.error is not None:
            raise self.error
        assert self.data is not None
        return self.data

    @property
    def stops_source(self) -> SourceError | None:
        """The error after which the source must not be called again in this run, if any."""
        if isinstance(self.error, SourceError) and self.error.stops_source:
            return self.error
        return None


class _StreamReader:
    """One stream read and shaped in a thread, while the caller writes the stream before it."""

    def __init__(self, stream: Stream, calls_made: CallsMade) -> None:
        self._stream = stream
        self._calls_made = calls_made
        self._outcome: _Read | None = None
        self._thread = threading.Thread(
            target=self._read, name=f"stream-{stream.name}", daemon=True
        )
        self._thread.start()

    def result(self) -> _Read:
        """Wait for the read to end: every request has a deadline, so the wait is bounded."""
        self._thread.join()
        assert self._outcome is not None
        return self._outcome

    def _read(self) -> None:
        started, (requests_before, retries_before) = time.monotonic(), self._calls_made()
        data, error = None, None
        try:
            data = _read_and_shape(self._stream)
        except BaseException as caught:  # raised again in the writing thread
            error = caught
        requests, retries = self._calls_made()
        self._outcome = _Read(
            data,
            error,
            requests - requests_before,
            retries - retries_before,
            time.monotonic() - started,
        )


def run_streams(
    run: SyncRun,
    engine: sa.Engine,
    streams: Iterable[Stream],
    calls_made: CallsMade,
    progress: Progress | None = None,
) -> None:
    """Write each stream in turn, recording one target per stream; read each one ahead.

    When writing fails the run ends, but not before the read in flight is over, since the
    client it uses is closed next; unless the run is being interrupted, which must not wait
    on a slow service.
    """
    progress = progress or Progress()
    queued = list(streams)
    stopped_by: SourceError | None = None
    reading: _StreamReader | None = None

    with _collector_paused():
        try:
            if queued:
                reading = _StreamReader(queued[0], calls_made)
            for position, stream in enumerate(queued):
                progress.started(stream.name)
                if stopped_by is not None:
                    report = _not_called(stream, stopped_by)
                else:
                    assert reading is not None
                    read, reading = reading.result(), None
                    stopped_by = read.stops_source
                    if stopped_by is None and position + 1 < len(queued):
                        reading = _StreamReader(queued[position + 1], calls_made)
                    report = _written(engine, stream, read, run.report.dry_run)
                run.record(report)
                progress.finished(report)
        except Exception:
            if reading is not None:
                reading.result()
            raise


def chosen_streams(names: Sequence[str], only: Iterable[str]) -> tuple[str, ...]:
    """The streams `--only` names, once each and in reading order; () without --only (all).

    An unknown name is a usage error that lists the streams, before anything is read.
    """
    only = list(only)
    unknown = [name for name in only if name not in names]
    if unknown:
        raise UsageError(
            f"--only {', '.join(unknown)}: no such stream; the streams are {', '.join(names)}"
        )
    return tuple(name for name in names if name in only)


def _written(engine: sa.Engine, stream: Stream, read: _Read, dry_run: bool) -> TargetReport:
    """The stream's report once its data is written, or why there was nothing to write."""
    started = time.monotonic()
    # A stream is tried once; each request it had to send again counts as another attempt.
    # One that sent nothing (its calls refused before sending) was not tried at all.
    attempts = 1 + read.retries if read.requests else 0
    report = TargetReport(name=stream.name, status="ok", kind="stream", attempts=attempts)

    try:
        report.counts, report.detail = _write(engine, read.unwrapped(), dry_run)
    except RateLimited as error:
        report.status, report.error = error.status, str(error)
        report.retry_after = error.retry_after
    except SourceError as error:
        report.status, report.error = error.status, str(error)
    except DatabaseError:
        raise
    except Exception as error:
        logger.exception("stream=%s status=crashed", stream.name)
        report.status, report.error = "crashed", f"{type(error).__name__}: {error}"

    report.duration_s = round(read.duration_s + time.monotonic() - started, 3)
    report.detail = {**stream.detail, **report.detail}
    report.detail["requests"] = read.requests
    report.detail["retries"] = read.retries
    logger.info(
        "stream=%s status=%s requests=%d duration=%.2fs%s",
        stream.name,
        report.status,
        report.detail["requests"],
        report.duration_s,
        f" error={report.error}" if report.error else "",
    )
    return report


def _read_and_shape(stream: Stream) -> StreamData:
    """The stream shaped; a listing read ahead in its thread is finished with before return."""
    rows = stream.read()
    if not isinstance(rows, ReadAhead):
        return _with_repeats_reported(stream.shape(rows))

    try:
        data = stream.shape(rows)
    except BaseException as error:
        # The next stream uses the same client, so wait for a request in flight to end;
        # unless the run is being interrupted, which must not wait on a slow service.
        rows.close(wait=isinstance(error, Exception))
        raise
    rows.close()
    return _with_repeats_reported(data)


def _with_repeats_reported(data: StreamData) -> StreamData:
    """Count each row whose natural key an earlier row of the stream had as skipped.

    The store keeps the later of two rows with one key (SmartOLT reuses ids; any API may list
    a record twice): the earlier one is lost, and the run says so.
    """
    for snapshot in data.snapshots:
        keys = snapshot.keys()
        if len(set(keys)) == len(keys):
            continue  # the usual case, told at C speed

        seen: set[Any] = set()
        for row, key in zip(snapshot.rows, keys, strict=True):
            if key in seen:
                parts = key if len(snapshot.key) > 1 else (key,)
                shown = ", ".join(
                    f"{name}={value}" for name, value in zip(snapshot.key, parts, strict=True)
                )
                built = row.build() if type(row) is DeferredRow else row
                data.skipped.append(
                    Skipped(
                        snapshot.table,
                        f"{snapshot.table} row {shown} sent more than once: the last is kept",
                        built.get("raw") or {},
                    )
                )
            seen.add(key)
    return data


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Keep Python's cycle collector out of a run's streams, and let it run after.

    A stream holds its whole listing in memory: hundreds of thousands of records and rows
    that live until it is written and that form no reference cycles. The collector would walk
    that growing heap again and again for nothing (a fifth of a warm 135,000-row sync); once
    the streams are done, whatever cycles they left are collected as usual.
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


def _not_called(stream: Stream, cause: SourceError) -> TargetReport:
    """The report of a stream the source was not asked for: no attempt, no request, and the
    detail keys every stream has, so a script reads them without looking at the status."""
    detail = {**stream.detail, "requests": 0, "retries": 0}
    if not isinstance(cause, RateLimited):
        return TargetReport(
            name=stream.name,
            status=cause.status,
            kind="stream",
            error=f"not called: {cause}",
            detail=detail,
        )
    when = (
        f"after {cause.retry_after.isoformat(timespec='seconds')}"
        if cause.retry_after
        else "later"
    )
    return TargetReport(
        name=stream.name,
        status="rate_limited",
        kind="stream",
        error=f"not called: the rate limit of {cause.method} was reached; try again {when}",
        detail=detail,
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
