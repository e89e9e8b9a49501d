"""A sync stopped by SIGINT or SIGTERM is recorded as interrupted and frees its lock."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from emerald_cli.engine.database import open_store
from emerald_cli.store import lock, runs, schema
from tests.engine.conftest import LabWorld

EMERALD = Path(sys.executable).with_name("emerald")


@pytest.mark.parametrize("sent", [signal.SIGINT, signal.SIGTERM])
def test_stopped_sync_is_interrupted_and_unlocked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str, sent: int
):
    world = LabWorld(tmp_path, monkeypatch, routers=3, secrets=5)
    try:
        world.lab.configure("router-001", fault="silent")
        sync = _start_sync(world.inventory(timeout=60), database_url, tmp_path)
        engine = open_store(database_url)
        _wait_for_a_running_run(engine)
        _wait_for_polled(engine, {"router-000", "router-002"})
        sync.send_signal(sent)
        stdout, stderr = sync.communicate(timeout=30)
    finally:
        world.lab.stop()

    assert sync.returncode == 130, _log_tail(tmp_path, stderr)
    [run] = runs.list_runs(engine)
    assert stderr.splitlines() == [
        f"error: run {run['id']} interrupted: rows written so far are kept; run the command again"
    ]
    assert (run["status"], run["error"]) == ("interrupted", "stopped by Ctrl-C or SIGTERM")
    assert lock.current_lock(engine, "mikrotik") is None
    # The routers written before the signal are in the run's history; the silent one is not.
    recorded = runs.get_run(engine, run["id"])["targets"]  # type: ignore[index]
    assert {(t["name"], t["status"]) for t in recorded} == {
        ("router-000", "ok"),
        ("router-002", "ok"),
    }
    assert run["inserted"] > 0
    # --json prints the run as it ended, as on success.
    report = json.loads(stdout)
    assert (report["run_id"], report["status"]) == (run["id"], "interrupted")
    assert [(t["name"], t["status"]) for t in report["targets"]] == [
        ("router-000", "ok"),
        ("router-002", "ok"),
    ]
    engine.dispose()


def _start_sync(
    inventory: Path, database_url: str, tmp_path: Path, *flags: str
) -> subprocess.Popen[str]:
    command = [EMERALD, "sync", "mikrotik", "--inventory", inventory, "--json", *flags]
    return subprocess.Popen(
        [*command, "--database-url", database_url],
        env={**os.environ, "EMERALD_HOME": str(tmp_path / "home")},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _log_tail(tmp_path: Path, stderr: str) -> str:
    """What the stopped sync said, and the end of its log file, for a failure to show."""
    log = tmp_path / "home" / "emerald.log"
    tail = log.read_text(errors="replace").splitlines()[-40:] if log.exists() else []
    return "\n".join([f"stderr: {stderr}", *tail])


def _wait_for_polled(engine, names: set[str], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    polled = sa.select(schema.routers.c.name).where(schema.routers.c.last_polled_at.is_not(None))
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            if names <= set(conn.scalars(polled)):
                return
        time.sleep(0.1)
    raise AssertionError(f"{', '.join(sorted(names))} were never written")


def _wait_for_a_running_run(engine, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if runs.list_runs(engine) and lock.current_lock(engine, "mikrotik"):
            time.sleep(0.5)  # let the pool start polling
            return
        time.sleep(0.1)
    raise AssertionError("the sync never started")


def test_routers_written_before_ctrl_c_are_all_in_the_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str
):
    # Big routers, so that Ctrl-C finds workers in the middle of writing one.
    world = LabWorld(tmp_path, monkeypatch, routers=6, secrets=4000)
    try:
        sync = _start_sync(world.inventory(timeout=60), database_url, tmp_path, "--workers", "2")
        engine = open_store(database_url)
        _wait_for_a_running_run(engine)
        _wait_for_polled(engine, {"router-000"}, seconds=60)
        sync.send_signal(signal.SIGINT)
        sync.communicate(timeout=60)
    finally:
        world.lab.stop()

    [run] = runs.list_runs(engine)
    recorded = {t["name"] for t in runs.get_run(engine, run["id"])["targets"]}  # type: ignore[index]
    with engine.connect() as conn:
        written = set(
            conn.scalars(
                sa.select(schema.routers.c.name).where(
                    schema.routers.c.last_polled_at.is_not(None)
                )
            )
        )
    assert (sync.returncode, run["status"]) == (130, "interrupted")
    assert "router-000" in recorded
    assert written == recorded
    engine.dispose()
