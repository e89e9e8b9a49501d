"""How a source's streams are read and written: each read while the one before is written."""

from __future__ import annotations

import threading
import time
from datetime import datetime

import pytest
import sqlalchemy as sa

from emerald_cli.engine.run import SyncRun
from emerald_cli.engine.streams import Stream, StreamData, run_streams
from emerald_cli.errors import DatabaseError
from emerald_cli.sources.errors import RateLimited

# Long enough that a test waiting this long has certainly seen the overlap fail.
WAIT_S = 5.0


def nothing(_rows: object) -> StreamData:
    return StreamData()


def test_the_next_stream_is_read_while_one_is_written(engine: sa.Engine):
    second_read = threading.Event()

    def wait_for_second_read(_conn: sa.Connection, _now: datetime) -> dict[str, bool]:
        return {"second_read_meanwhile": second_read.wait(WAIT_S)}

    streams = [
        Stream("first", list, lambda _rows: StreamData(extra_write=wait_for_second_read)),
        Stream("second", second_read.set, nothing),
    ]
    with SyncRun(engine, "ispcube", "cli") as run:
        run_streams(run, engine, streams, lambda: (0, 0))

    first, second = run.report.targets
    assert first.detail["second_read_meanwhile"] is True
    assert (first.status, second.status) == ("ok", "ok")


def test_a_rate_limit_leaves_the_streams_after_it_uncalled(engine: sa.Engine):
    called: list[str] = []

    def limited() -> None:
        called.append("limited")
        raise RateLimited("onus")

    streams = [
        Stream("first", lambda: called.append("first"), nothing),
        Stream("limited", limited, nothing),
        Stream("after", lambda: called.append("after"), nothing),
    ]
    with SyncRun(engine, "smartolt", "cli") as run:
        run_streams(run, engine, streams, lambda: (0, 0))

    assert called == ["first", "limited"]
    assert [target.status for target in run.report.targets] == [
        "ok",
        "rate_limited",
        "rate_limited",
    ]
    assert run.report.targets[2].error.startswith("not called: the rate limit of onus")


def test_a_failed_write_ends_the_run_after_the_read_in_flight(engine: sa.Engine):
    next_started, next_finished = threading.Event(), threading.Event()

    def broken_write(conn: sa.Connection, _now: datetime) -> dict[str, int]:
        next_started.wait(WAIT_S)
        conn.execute(sa.text("SELECT * FROM no_such_table"))
        return {}

    def slow_read() -> None:
        next_started.set()
        time.sleep(0.3)
        next_finished.set()

    streams = [
        Stream("broken", list, lambda _rows: StreamData(extra_write=broken_write)),
        Stream("next", slow_read, nothing),
    ]
    with (
        pytest.raises(DatabaseError, match="rolled back; run the sync again"),
        SyncRun(engine, "ispcube", "cli") as run,
    ):
        run_streams(run, engine, streams, lambda: (0, 0))

    assert next_finished.is_set()


def test_a_read_that_crashes_is_reported_and_the_run_goes_on(engine: sa.Engine):
    def crashing() -> None:
        raise KeyError("id")

    streams = [Stream("crashing", crashing, nothing), Stream("fine", list, nothing)]
    with SyncRun(engine, "ispcube", "cli") as run:
        run_streams(run, engine, streams, lambda: (0, 0))

    crashed, fine = run.report.targets
    assert (crashed.status, crashed.error) == ("crashed", "KeyError: 'id'")
    assert fine.status == "ok"
