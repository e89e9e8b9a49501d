"""`emerald sync mikrotik` as scripts and operators run it: exit codes, JSON, errors, the lock."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from emerald_cli.cli import app
from emerald_cli.engine.database import open_store
from emerald_cli.store import lock, runs, schema
from tests.engine.conftest import LabWorld

runner = CliRunner()


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("EMERALD_HOME", str(tmp_path / "home"))
    created = LabWorld(tmp_path, monkeypatch, routers=3, secrets=20)
    yield created
    created.lab.stop()


def sync(database_url: str, inventory: Path, *extra: str):
    return runner.invoke(
        app,
        [
            "sync",
            "mikrotik",
            "--inventory",
            str(inventory),
            "--database-url",
            database_url,
            *extra,
        ],
    )


def test_json_output_and_exit_zero(world: LabWorld, database_url: str):
    result = sync(database_url, world.inventory(), "--json")

    assert (result.exit_code, result.stderr) == (0, "")
    report = json.loads(result.stdout)
    assert set(report) == {
        "run_id",
        "source",
        "trigger",
        "status",
        "dry_run",
        "started_at",
        "finished_at",
        "error",
        "counts",
        "targets",
    }
    assert (report["source"], report["status"], report["dry_run"]) == ("mikrotik", "ok", False)
    assert (report["trigger"], report["error"]) == ("cli", None)
    assert isinstance(report["run_id"], int)
    assert set(report["counts"]) == {"inserted", "updated", "unchanged", "removed"}
    assert sorted(target["name"] for target in report["targets"]) == [
        "router-000",
        "router-001",
        "router-002",
    ]
    for target in report["targets"]:
        assert set(target) == {
            "name",
            "kind",
            "status",
            "error",
            "attempts",
            "duration_s",
            "counts",
            "detail",
            "retry_after",
        }
        assert (target["status"], target["error"], target["attempts"]) == ("ok", None, 1)
    total = sum(target["counts"]["inserted"] for target in report["targets"])
    assert report["counts"]["inserted"] == total > 0


def test_partial_exits_three_and_failed_exits_one(world: LabWorld, database_url: str):
    """Each saying why on stderr, and in the run's error, stored with the run."""
    world.lab.configure("router-001", fault="refuse")
    result = sync(database_url, world.inventory(), "--json")
    assert result.exit_code == 3
    report = json.loads(result.stdout)
    assert report["status"] == "partial"
    failed = [t for t in report["targets"] if t["status"] != "ok"]
    assert [(t["name"], t["status"]) for t in failed] == [("router-001", "unreachable")]
    partly = f"1 of 3 routers failed, first router-001 (unreachable): {failed[0]['error']}"
    assert report["error"] == partly
    assert result.stderr.splitlines() == [f"warning: run {report['run_id']} partial: {partly}"]
    dry_run = sync(database_url, world.inventory(), "--dry-run")
    assert (dry_run.exit_code, dry_run.stderr.splitlines()) == (
        3,
        [f"warning: mikrotik dry run partial: {partly}"],
    )

    for name in ("router-000", "router-002"):
        world.lab.configure(name, fault="wrong_password")
    result = sync(database_url, world.inventory(), "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["status"] == "failed"
    refused = {t["name"]: t for t in report["targets"]}["router-000"]["error"]
    failed_line = f"3 of 3 routers failed, first router-000 (auth_failed): {refused}"
    assert result.stderr.splitlines() == [f"error: run {report['run_id']} failed: {failed_line}"]
    engine = open_store(database_url)
    assert runs.get_run(engine, report["run_id"])["error"] == failed_line
    engine.dispose()


def test_dry_run_reports_changes_and_writes_nothing(
    world: LabWorld, database_url: str, tmp_path: Path
):
    """Migrations included: a schema to bring up to date is refused like a setting to fix."""
    unmigrated = sync(database_url, world.inventory(), "--json", "--dry-run")
    assert (unmigrated.exit_code, unmigrated.stdout) == (2, "")
    [line] = unmigrated.stderr.splitlines()
    assert line.startswith("error: the database schema is out of date: ")
    assert line.endswith("; run `emerald db upgrade`")
    if database_url.startswith("sqlite"):
        assert not (tmp_path / "emerald.db").exists()
    runner.invoke(app, ["db", "upgrade", "--database-url", database_url])

    result = sync(database_url, world.inventory(), "--json", "--dry-run")

    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert (report["run_id"], report["dry_run"]) == (None, True)
    assert report["counts"]["inserted"] > 0
    engine = open_store(database_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM ppp_secrets")).scalar() == 0
    engine.dispose()


def test_only_polls_the_named_routers(world: LabWorld, database_url: str):
    result = sync(database_url, world.inventory(), "--json", "--only", "router-002")

    assert [t["name"] for t in json.loads(result.stdout)["targets"]] == ["router-002"]
    result = sync(database_url, world.inventory(), "--only", "ghost")
    assert result.exit_code == 2
    assert "--only ghost: no such router in" in result.stderr


def test_second_sync_while_one_runs_exits_four(world: LabWorld, database_url: str):
    engine = open_store(database_url)
    holder = runs.start_run(engine, "mikrotik", "schedule")
    lock.acquire_lock(engine, "mikrotik", holder, "cron-host:4242")

    result = sync(database_url, world.inventory(), "--json")

    assert result.exit_code == 4
    assert f"run {holder}" in result.stderr
    assert "cron-host:4242" in result.stderr
    assert result.stdout == ""
    engine.dispose()


def test_a_stale_lock_is_taken_over(world: LabWorld, database_url: str):
    engine = open_store(database_url)
    holder = runs.start_run(engine, "mikrotik", "schedule")
    lock.acquire_lock(engine, "mikrotik", holder, "dead-host:1")
    with engine.begin() as conn:
        conn.execute(
            schema.sync_locks.update().values(heartbeat_at=datetime(2020, 1, 1, tzinfo=UTC))
        )

    result = sync(database_url, world.inventory(), "--json")

    assert result.exit_code == 0, result.stderr
    assert runs.get_run(engine, holder)["status"] == "interrupted"
    engine.dispose()


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[[routers]]\nname = 'a'\nhost = 'b'\nprot = 1\n", "unknown key 'prot'"),
        ("not toml ===", "not valid TOML"),
    ],
)
def test_config_errors_exit_two_with_one_line(
    tmp_path: Path, database_url: str, text: str, fragment: str
):
    inventory = tmp_path / "bad.toml"
    inventory.write_text(text, encoding="utf-8")

    result = sync(database_url, inventory)

    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert str(inventory) in lines[0] and fragment in lines[0]


def test_missing_inventory_names_the_flag_and_variable(
    database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    monkeypatch.delenv("EMERALD_INVENTORY", raising=False)
    monkeypatch.setenv("EMERALD_HOME", str(tmp_path))
    result = runner.invoke(app, ["sync", "mikrotik", "--database-url", database_url])
    assert result.exit_code == 2
    assert "pass --inventory FILE or set EMERALD_INVENTORY" in result.stderr


def test_unreachable_database_is_one_line_exit_one(world: LabWorld):
    url = "postgresql+psycopg://nobody:hunter2@127.0.0.1:1/nothing"
    result = sync(url, world.inventory())
    assert result.exit_code == 1
    assert "cannot connect to the database" in result.stderr
    assert "hunter2" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_secrets_never_reach_output_or_log(world: LabWorld, database_url: str, tmp_path: Path):
    world.lab.configure("router-001", fault="wrong_password")
    inventory = world.inventory()
    result = sync(database_url, inventory, "--json", "--verbose")
    shown = runner.invoke(app, ["config", "show", "--inventory", str(inventory), "--json"])

    password = world.lab.password
    log = (tmp_path / "home" / "emerald.log").read_text(encoding="utf-8")
    for text in (result.stdout, result.stderr, shown.stdout, log):
        assert password not in text
    assert "router=router-001 status=auth_failed" in log
    routers = json.loads(shown.stdout)["routers"]
    assert routers[0]["password"] == "******** (env EMERALD_ROUTER_PASSWORD)"


def test_runs_list_and_show(world: LabWorld, database_url: str):
    world.lab.configure("router-002", fault="refuse")
    report = json.loads(sync(database_url, world.inventory(), "--json").stdout)

    listed = runner.invoke(app, ["runs", "--json", "--database-url", database_url])
    shown = runner.invoke(
        app, ["runs", "show", str(report["run_id"]), "--json", "--database-url", database_url]
    )

    assert listed.exit_code == 0 and shown.exit_code == 0
    assert [(r["run_id"], r["status"]) for r in json.loads(listed.stdout)] == [
        (report["run_id"], "partial")
    ]
    run = json.loads(shown.stdout)
    assert {t["name"]: t["status"] for t in run["targets"]} == {
        "router-000": "ok",
        "router-001": "ok",
        "router-002": "unreachable",
    }
    # The history prints what the sync printed, plus what only the history knows; its times
    # are the database's clock, the sync's its own.
    times = ("started_at", "finished_at")
    assert {k: v for k, v in run.items() if k in report and k not in times} == {
        k: v for k, v in report.items() if k not in times
    }
    for key in times:
        apart = datetime.fromisoformat(run[key]) - datetime.fromisoformat(report[key])
        assert abs(apart.total_seconds()) < 5
    assert {"heartbeat_at", "host", "pid"} == set(run) - set(report)
    missing = runner.invoke(app, ["runs", "show", "999", "--database-url", database_url])
    assert missing.exit_code == 2
    assert "no run with id 999" in missing.stderr


def test_runs_options_before_show_apply_to_it_or_are_refused(world: LabWorld, database_url: str):
    report = json.loads(sync(database_url, world.inventory(), "--json").stdout)
    run_id = str(report["run_id"])

    shown = runner.invoke(app, ["runs", "--json", "--database-url", database_url, "show", run_id])
    limited = runner.invoke(app, ["runs", "--limit", "5", "show", run_id])
    chosen = runner.invoke(app, ["runs", "--source", "mikrotik", "show", run_id, "--json"])

    assert shown.exit_code == 0, shown.stderr
    assert (json.loads(shown.stdout)["run_id"], shown.stderr) == (report["run_id"], "")
    for result, flag in ((limited, "--limit"), (chosen, "--source")):
        assert (result.exit_code, result.stdout) == (2, "")
        assert result.stderr.splitlines() == [
            f"error: {flag} chooses the runs to list: `runs show` takes none; leave {flag} out"
        ]
