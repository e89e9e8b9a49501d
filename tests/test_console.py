"""What people and scripts see: summaries that fit a terminal, output to a reader gone away."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from rich.console import Console
from rich.progress import Progress

from emerald_cli import console
from emerald_cli.engine.run import RunReport, TargetReport

UNREACHABLE = "cannot connect to 10.255.255.1:8728: timed out after 5s; check the address"


def summary_at(width: int, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    out = io.StringIO()
    monkeypatch.setattr(console, "data", Console(file=out, width=width, color_system=None))
    report = RunReport(source="mikrotik", run_id=7, status="partial")
    report.targets = [
        TargetReport("router-000", "ok", attempts=1, duration_s=0.5),
        TargetReport("router-002", "unreachable", UNREACHABLE, attempts=3),
    ]

    console.print_summary(report)

    return out.getvalue().splitlines()


def test_a_narrow_summary_keeps_names_and_statuses_whole(monkeypatch: pytest.MonkeyPatch):
    lines = summary_at(80, monkeypatch)

    error_line = f"router-002: {UNREACHABLE}"  # one line, for the terminal to wrap
    assert all(len(line) <= 80 for line in lines if line != error_line)
    header = next(line for line in lines if "target" in line)
    assert header.split() == [
        "target",
        "status",
        "tries",
        "seconds",
        "inserted",
        "updated",
        "unchanged",
        "removed",
    ]
    row = next(line for line in lines if line.lstrip().startswith("router-002"))
    assert row.split()[:3] == ["router-002", "unreachable", "3"]
    assert error_line in lines


def test_a_wide_summary_keeps_the_error_in_its_column(monkeypatch: pytest.MonkeyPatch):
    lines = summary_at(200, monkeypatch)

    row = next(line for line in lines if "router-002" in line)
    assert UNREACHABLE in row
    assert not any(line.startswith("router-002:") for line in lines)


def test_a_reader_gone_away_is_not_an_error(tmp_path: Path):
    """`emerald ... | head -1`: what was done stands, and the exit code says so."""
    database = f"sqlite:///{tmp_path / 'e.db'}"
    emerald = Path(sys.executable).parent / "emerald"
    environment = {**os.environ, "EMERALD_HOME": str(tmp_path / "home")}
    subprocess.run(
        [emerald, "db", "upgrade", "--database-url", database], check=True, env=environment
    )
    script = (
        f'"{emerald}" runs --json --database-url "{database}" | true; echo "${{PIPESTATUS[0]}}"'
    )

    piped = subprocess.run(
        ["/bin/bash", "-c", script], capture_output=True, text=True, env=environment, check=True
    )

    assert piped.stdout.strip() == "0"
    assert piped.stderr == ""


def test_a_paged_listing_moves_its_line_on_from_the_reading_thread():
    """The next stream's listing is read ahead, so its line may start before its turn."""
    shown = Progress(console=Console(file=io.StringIO()), auto_refresh=False)
    lines = console.TargetProgress(shown, total=2, label="streams")

    reading = threading.Thread(target=lines.read, args=("onus", 200, 1_777))
    reading.start()
    reading.join()
    lines.started("onus")
    lines.read("onus", 400, 1_777)
    lines.read("customers", 1_000, None)

    assert [(t.description, t.completed, t.total) for t in shown.tasks] == [
        ("streams", 0, 2),
        ("  onus", 400, 1_777),
        ("  customers", 1_000, None),
    ]
    lines.finished(TargetReport("onus", "ok", kind="stream"))
    lines.read("onus", 600, 1_777)  # a listing Ctrl-C left behind: too late to show
    assert [(t.description, t.completed) for t in shown.tasks] == [
        ("streams", 1),
        ("  customers", 1_000),
    ]
