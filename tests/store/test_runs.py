"""Run history: runs and their targets go in as plain values and come out as plain dicts."""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from emerald_cli.store.counts import ChangeCounts
from emerald_cli.store.runs import (
    TargetRecord,
    finish_run,
    get_run,
    heartbeat_run,
    interrupt_stale_runs,
    list_runs,
    record_target,
    start_run,
    targets_since,
)
from emerald_cli.store.schema import sync_runs

RETRY_AT = datetime(2024, 12, 3, 10, 30, tzinfo=UTC)


def test_a_run_and_its_targets_round_trip(engine: sa.Engine) -> None:
    run_id = start_run(engine, "mikrotik", "cli")
    record_target(
        engine,
        run_id,
        TargetRecord(
            name="core-1",
            kind="router",
            status="ok",
            attempts=1,
            duration_s=1.25,
            counts=ChangeCounts(inserted=3, unchanged=497),
            detail={"ppp_secrets": {"inserted": 3}, "skipped": {"queues": "no permission"}},
        ),
    )
    record_target(
        engine,
        run_id,
        TargetRecord(
            name="nodo-7",
            kind="router",
            status="timeout",
            attempts=3,
            duration_s=30.5,
            error="no reply after 10.0s",
            retry_after=RETRY_AT,
        ),
    )
    finish_run(engine, run_id, "partial", ChangeCounts(inserted=3, unchanged=497), "1 of 2 failed")

    run = get_run(engine, run_id)

    assert run is not None
    assert run["started_at"].tzinfo is UTC
    assert run["finished_at"] >= run["started_at"]
    summary = {key: run[key] for key in ("id", "source", "trigger", "status", "dry_run")}
    assert summary == {
        "id": run_id,
        "source": "mikrotik",
        "trigger": "cli",
        "status": "partial",
        "dry_run": False,
    }
    assert (run["host"], run["pid"]) == (socket.gethostname(), os.getpid())
    totals = {key: run[key] for key in ("inserted", "updated", "unchanged", "removed", "error")}
    assert totals == {
        "inserted": 3,
        "updated": 0,
        "unchanged": 497,
        "removed": 0,
        "error": "1 of 2 failed",
    }
    targets = [{k: v for k, v in t.items() if k not in ("id",)} for t in run["targets"]]
    assert targets == [
        {
            "run_id": run_id,
            "name": "core-1",
            "kind": "router",
            "status": "ok",
            "attempts": 1,
            "duration_s": 1.25,
            "inserted": 3,
            "updated": 0,
            "unchanged": 497,
            "removed": 0,
            "error": None,
            "detail": {"ppp_secrets": {"inserted": 3}, "skipped": {"queues": "no permission"}},
            "retry_after": None,
        },
        {
            "run_id": run_id,
            "name": "nodo-7",
            "kind": "router",
            "status": "timeout",
            "attempts": 3,
            "duration_s": 30.5,
            "inserted": 0,
            "updated": 0,
            "unchanged": 0,
            "removed": 0,
            "error": "no reply after 10.0s",
            "detail": {},
            "retry_after": RETRY_AT,
        },
    ]


def test_unknown_run_is_none(engine: sa.Engine) -> None:
    assert get_run(engine, 404) is None


def test_list_runs_newest_first_and_by_source(engine: sa.Engine) -> None:
    first = start_run(engine, "mikrotik", "schedule")
    second = start_run(engine, "ispcube", "api", dry_run=True)
    third = start_run(engine, "mikrotik", "cli")

    everything = [(run["id"], run["source"], run["dry_run"]) for run in list_runs(engine)]
    mikrotik = [run["id"] for run in list_runs(engine, source="mikrotik")]
    latest = [run["id"] for run in list_runs(engine, limit=1)]

    assert everything == [
        (third, "mikrotik", False),
        (second, "ispcube", True),
        (first, "mikrotik", False),
    ]
    assert mikrotik == [third, first]
    assert latest == [third]


def test_vocabularies_are_enforced(engine: sa.Engine) -> None:
    run_id = start_run(engine, "mikrotik", "cli")

    with pytest.raises(ValueError, match="trigger 'cron' is not one of cli, schedule, api"):
        start_run(engine, "mikrotik", "cron")
    with pytest.raises(ValueError, match="target status 'down'"):
        record_target(engine, run_id, TargetRecord(name="core-1", kind="router", status="down"))
    with pytest.raises(ValueError, match="final status 'running'"):
        finish_run(engine, run_id, "running", ChangeCounts())


def test_heartbeat_only_counts_while_running(engine: sa.Engine) -> None:
    run_id = start_run(engine, "mikrotik", "cli")

    alive = heartbeat_run(engine, run_id)
    finish_run(engine, run_id, "ok", ChangeCounts())

    assert (alive, heartbeat_run(engine, run_id)) == (True, False)


def test_runs_with_an_old_heartbeat_are_marked_interrupted(engine: sa.Engine) -> None:
    stale = start_run(engine, "mikrotik", "cli")
    fresh = start_run(engine, "mikrotik", "cli")
    other_source = start_run(engine, "ispcube", "cli")
    old = datetime(2024, 12, 3, 9, 0, 0, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(
            sync_runs.update()
            .where(sync_runs.c.id.in_([stale, other_source]))
            .values(heartbeat_at=old)
        )

    interrupted = interrupt_stale_runs(engine, stale_after_s=300, source="mikrotik")

    assert interrupted == [stale]
    statuses = {run["id"]: (run["status"], run["error"]) for run in list_runs(engine)}
    assert statuses == {
        stale: ("interrupted", "no heartbeat since 2024-12-03 09:00:00 UTC"),
        fresh: ("running", None),
        other_source: ("running", None),
    }


def test_a_run_marked_interrupted_totals_the_targets_it_recorded(engine: sa.Engine) -> None:
    """Their rows were written before the run's process died."""
    stale = start_run(engine, "ispcube", "cli")
    for name, inserted, updated in (("plans", 4, 1), ("nodes", 0, 5)):
        counts = ChangeCounts(inserted=inserted, updated=updated, unchanged=2)
        record_target(engine, stale, TargetRecord(name, "stream", "ok", counts=counts))
    with engine.begin() as conn:
        conn.execute(
            sync_runs.update()
            .where(sync_runs.c.id == stale)
            .values(heartbeat_at=datetime(2024, 12, 3, 9, 0, 0, tzinfo=UTC))
        )

    assert interrupt_stale_runs(engine, stale_after_s=300) == [stale]

    [run] = list_runs(engine)
    totals = {name: run[name] for name in ("inserted", "updated", "unchanged", "removed")}
    assert totals == {"inserted": 4, "updated": 6, "unchanged": 4, "removed": 0}


def test_finishing_a_run_twice_keeps_the_last_word(engine: sa.Engine) -> None:
    run_id = start_run(engine, "mikrotik", "cli")
    finish_run(engine, run_id, "interrupted", ChangeCounts())

    finish_run(engine, run_id, "ok", ChangeCounts(updated=2))

    run = get_run(engine, run_id)
    assert run is not None
    assert (run["status"], run["updated"]) == ("ok", 2)
    with pytest.raises(ValueError, match="no run with id 404"):
        finish_run(engine, 404, "ok", ChangeCounts())


def test_interrupt_stale_runs_leaves_recent_ones(engine: sa.Engine) -> None:
    run_id = start_run(engine, "mikrotik", "cli")

    assert interrupt_stale_runs(engine, stale_after_s=timedelta(hours=1).total_seconds()) == []
    assert list_runs(engine)[0]["id"] == run_id


def test_recent_targets_are_those_of_runs_at_work_within_the_window(engine: sa.Engine) -> None:
    """A run is timed by its end: one that started 65 minutes ago and called until 55 minutes
    ago still counts in the last hour; one over 61 minutes ago does not."""
    now = datetime.now(UTC)
    times = {
        "long": (now - timedelta(minutes=65), now - timedelta(minutes=55)),
        "old": (now - timedelta(minutes=70), now - timedelta(minutes=61)),
        "running": (now - timedelta(minutes=2), None),
    }
    for name, (started, finished) in times.items():
        run_id = start_run(engine, "smartolt", "schedule")
        record_target(engine, run_id, TargetRecord(name, "stream", "ok", detail={"requests": 3}))
        with engine.begin() as conn:
            conn.execute(
                sa.update(sync_runs)
                .where(sync_runs.c.id == run_id)
                .values(started_at=started, heartbeat_at=started, finished_at=finished)
            )
    other = start_run(engine, "ispcube", "cli")
    record_target(engine, other, TargetRecord("customers", "stream", "ok"))

    database_now, recent = targets_since(engine, "smartolt", timedelta(hours=1))

    assert [(target.name, target.detail) for target in recent] == [
        ("long", {"requests": 3}),
        ("running", {"requests": 3}),
    ]
    assert recent[0].run_ended_at == times["long"][1]
    assert abs(database_now - now) < timedelta(seconds=30)
