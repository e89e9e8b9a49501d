"""A sync stopped by SIGINT or SIGTERM is recorded as interrupted and frees its lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from emerald_cli.engine.database import open_store
from emerald_cli.store import lock, runs
from tests.engine.conftest import LabWorld

EMERALD = Path(sys.executable).with_name("emerald")


@pytest.mark.parametrize("sent", [signal.SIGINT, signal.SIGTERM])
def test_stopped_sync_is_interrupted_and_unlocked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str, sent: int
):
    world = LabWorld(tmp_path, monkeypatch, routers=3, secrets=5)
    try:
        world.lab.configure("router-001", fault="silent")
        inventory = world.inventory(timeout=60)
        environment = {**os.environ, "EMERALD_HOME": str(tmp_path / "home")}
        sync = subprocess.Popen(
            [
                EMERALD,
                "sync",
                "mikrotik",
                "--inventory",
                inventory,
                "--database-url",
                database_url,
                "--json",
            ],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        engine = open_store(database_url)
        _wait_for_a_running_run(engine)
        sync.send_signal(sent)
        _, stderr = sync.communicate(timeout=30)
    finally:
        world.lab.stop()

    assert sync.returncode == 130
    assert "interrupted" in stderr
    [run] = runs.list_runs(engine)
    assert run["status"] == "interrupted"
    assert lock.current_lock(engine, "mikrotik") is None
    engine.dispose()


def _wait_for_a_running_run(engine, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if runs.list_runs(engine) and lock.current_lock(engine, "mikrotik"):
            time.sleep(0.5)  # let the pool start polling
            return
        time.sleep(0.1)
    raise AssertionError("the sync never started")
