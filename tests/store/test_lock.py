"""The per-source lock: one holder across connections, stale takeover, heartbeat, release."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from emerald_cli.store.database import make_engine
from emerald_cli.store.errors import LockHeld
from emerald_cli.store.lock import acquire_lock, current_lock, heartbeat_lock, release_lock
from emerald_cli.store.runs import get_run, start_run
from emerald_cli.store.schema import sync_locks

LONG_AGO = datetime(2024, 12, 3, 10, 2, 3, tzinfo=UTC)


@pytest.fixture
def other_engine(engine: sa.Engine, database_url: str) -> Iterator[sa.Engine]:
    """A second engine on the same database: its own pool, its own connections."""
    second = make_engine(database_url)
    yield second
    second.dispose()


def make_stale(engine: sa.Engine, source: str, holder: int | None = None) -> None:
    """Age the lock's heartbeat, as if its run died long ago; optionally hand it to `holder`."""
    values: dict[str, Any] = {"acquired_at": LONG_AGO, "heartbeat_at": LONG_AGO}
    if holder is not None:
        values["run_id"] = holder
    with engine.begin() as conn:
        conn.execute(sync_locks.update().where(sync_locks.c.source == source).values(values))


def test_a_second_run_of_the_same_source_is_refused(
    engine: sa.Engine, other_engine: sa.Engine
) -> None:
    first = start_run(engine, "mikrotik", "cli")
    second = start_run(other_engine, "mikrotik", "schedule")
    acquire_lock(engine, "mikrotik", first, "noc-1:100")

    with pytest.raises(LockHeld) as held:
        acquire_lock(other_engine, "mikrotik", second, "noc-2:200")

    assert (held.value.source, held.value.run_id, held.value.owner) == (
        "mikrotik",
        first,
        "noc-1:100",
    )
    assert str(held.value).startswith(
        f"another mikrotik sync is running: run {first} on noc-1:100 since "
    )
    lock = current_lock(engine, "mikrotik")
    assert lock is not None
    assert (lock["run_id"], lock["owner"]) == (first, "noc-1:100")


def test_other_sources_have_locks_of_their_own(engine: sa.Engine, other_engine: sa.Engine) -> None:
    acquire_lock(engine, "mikrotik", start_run(engine, "mikrotik", "cli"), "noc-1:100")

    acquire_lock(other_engine, "ispcube", start_run(engine, "ispcube", "cli"), "noc-2:200")

    assert current_lock(engine, "ispcube") is not None


def test_taking_a_lock_already_held_by_the_same_run_refreshes_it(engine: sa.Engine) -> None:
    run_id = start_run(engine, "mikrotik", "cli")
    acquire_lock(engine, "mikrotik", run_id, "noc-1:100")
    make_stale(engine, "mikrotik")

    acquire_lock(engine, "mikrotik", run_id, "noc-1:100")

    lock = current_lock(engine, "mikrotik")
    assert lock is not None
    assert (lock["acquired_at"], lock["heartbeat_at"] > LONG_AGO) == (LONG_AGO, True)


def test_a_stale_lock_is_taken_over_and_its_run_interrupted(
    engine: sa.Engine, other_engine: sa.Engine
) -> None:
    dead = start_run(engine, "mikrotik", "cli")
    acquire_lock(engine, "mikrotik", dead, "noc-1:100")
    make_stale(engine, "mikrotik")
    new = start_run(other_engine, "mikrotik", "cli")

    acquire_lock(other_engine, "mikrotik", new, "noc-2:200", stale_after_s=60)

    lock = current_lock(engine, "mikrotik")
    assert lock is not None
    assert (lock["run_id"], lock["owner"]) == (new, "noc-2:200")
    dead_run = get_run(engine, dead)
    assert dead_run is not None
    assert dead_run["status"] == "interrupted"
    assert dead_run["error"].startswith("interrupted: no heartbeat for ")
    assert f"lock taken over by run {new} at " in dead_run["error"]
    assert heartbeat_lock(engine, "mikrotik", dead) is False
    assert heartbeat_lock(other_engine, "mikrotik", new) is True


def test_a_lock_is_fresh_while_its_heartbeat_is(
    engine: sa.Engine, other_engine: sa.Engine
) -> None:
    holder = start_run(engine, "mikrotik", "cli")
    acquire_lock(engine, "mikrotik", holder, "noc-1:100")
    make_stale(engine, "mikrotik")
    assert heartbeat_lock(engine, "mikrotik", holder) is True

    with pytest.raises(LockHeld):
        acquire_lock(other_engine, "mikrotik", start_run(engine, "mikrotik", "cli"), "noc-2:200")

    holder_run = get_run(engine, holder)
    assert holder_run is not None
    assert holder_run["status"] == "running"


def test_release_frees_the_lock_for_the_next_run(
    engine: sa.Engine, other_engine: sa.Engine
) -> None:
    first = start_run(engine, "mikrotik", "cli")
    acquire_lock(engine, "mikrotik", first, "noc-1:100")

    released = release_lock(engine, "mikrotik", first)
    released_again = release_lock(engine, "mikrotik", first)
    second = start_run(other_engine, "mikrotik", "cli")
    acquire_lock(other_engine, "mikrotik", second, "noc-2:200")

    assert (released, released_again) == (True, False)
    lock = current_lock(engine, "mikrotik")
    assert lock is not None
    assert lock["run_id"] == second


def test_release_by_a_run_that_lost_the_lock_leaves_the_new_holder(
    engine: sa.Engine, other_engine: sa.Engine
) -> None:
    dead = start_run(engine, "mikrotik", "cli")
    acquire_lock(engine, "mikrotik", dead, "noc-1:100")
    make_stale(engine, "mikrotik")
    new = start_run(other_engine, "mikrotik", "cli")
    acquire_lock(other_engine, "mikrotik", new, "noc-2:200")

    assert release_lock(engine, "mikrotik", dead) is False

    lock = current_lock(engine, "mikrotik")
    assert lock is not None
    assert lock["run_id"] == new


def _race(engines: list[sa.Engine], runs: list[int]) -> list[str]:
    """Each engine tries the lock from its own thread at the same moment."""
    barrier = threading.Barrier(len(engines))
    outcomes: list[str] = [""] * len(engines)

    def take(index: int) -> None:
        barrier.wait()
        try:
            acquire_lock(engines[index], "mikrotik", runs[index], f"noc-{index}:1")
            outcomes[index] = "won"
        except LockHeld:
            outcomes[index] = "held"

    threads = [threading.Thread(target=take, args=(index,)) for index in range(len(engines))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_two_engines_racing_for_a_free_lock_one_wins(
    engine: sa.Engine, other_engine: sa.Engine
) -> None:
    runs = [start_run(engine, "mikrotik", "cli") for _ in range(2)]

    for _round in range(5):
        outcomes = _race([engine, other_engine], runs)
        assert sorted(outcomes) == ["held", "won"]
        release_lock(engine, "mikrotik", runs[outcomes.index("won")])


def test_two_engines_racing_for_a_stale_lock_one_wins(
    engine: sa.Engine, other_engine: sa.Engine
) -> None:
    dead = start_run(engine, "mikrotik", "cli")
    acquire_lock(engine, "mikrotik", dead, "noc-9:9")
    runs = [start_run(engine, "mikrotik", "cli") for _ in range(2)]

    for _round in range(5):
        make_stale(engine, "mikrotik", holder=dead)
        outcomes = _race([engine, other_engine], runs)
        assert sorted(outcomes) == ["held", "won"]


def finished_pid() -> int:
    """The pid of a process of this machine that has ended."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_lock_whose_process_on_this_host_is_gone_is_taken_over_at_once(
    engine: sa.Engine,
) -> None:
    dead = f"{socket.gethostname()}:{finished_pid()}"
    first = start_run(engine, "smartolt", "schedule")
    acquire_lock(engine, "smartolt", first, dead)
    second = start_run(engine, "smartolt", "cli")

    acquire_lock(engine, "smartolt", second, "noc-1:200")

    lock = current_lock(engine, "smartolt")
    assert lock is not None
    assert (lock["run_id"], lock["owner"]) == (second, "noc-1:200")
    previous = get_run(engine, first)
    assert previous is not None
    assert previous["status"] == "interrupted"
    assert previous["error"].startswith(f"interrupted: its process {dead} is gone, lock taken")


@pytest.mark.parametrize("holder", ["alive-here", "elsewhere", "localhost"])
def test_a_fresh_lock_of_a_live_or_unknowable_process_is_respected(
    engine: sa.Engine, holder: str
) -> None:
    owners = {
        "alive-here": f"{socket.gethostname()}:{os.getpid()}",
        "elsewhere": f"noc-9:{finished_pid()}",
        "localhost": f"localhost:{finished_pid()}",
    }
    first = start_run(engine, "smartolt", "schedule")
    acquire_lock(engine, "smartolt", first, owners[holder])
    second = start_run(engine, "smartolt", "cli")

    with pytest.raises(LockHeld):
        acquire_lock(engine, "smartolt", second, "noc-1:200")
