"""`emerald sync ispcube|smartolt|all` as operators and scripts run them, against the lab."""

from __future__ import annotations

import dataclasses
import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from emerald_cli.cli import app
from emerald_cli.engine.database import open_store
from emerald_cli.lab.billing import Billing, build_billing
from emerald_cli.lab.dataset import build_fleet
from emerald_cli.lab.ispcube import ISPCubeLab
from emerald_cli.lab.routeros.server import RouterLab, write_inventory
from emerald_cli.lab.smartolt import SmartOLTLab
from emerald_cli.store import database as store_database
from emerald_cli.store import lock, runs, schema

runner = CliRunner()
API_KEY, CLIENT_ID, USER, PASSWORD, TOKEN = "cli-key-123", "77", "api", "cli-pass-456", "tok-789"


@dataclass
class Labs:
    billing: Billing
    routers: RouterLab
    ispcube: ISPCubeLab
    smartolt: SmartOLTLab


@pytest.fixture
def labs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Labs]:
    """RouterOS, ISPCube and SmartOLT labs from one fleet, and the environment pointing at them."""
    fleet = build_fleet(seed=11, routers=3, secrets=15)
    billing = build_billing(fleet, seed_router_mismatches=False)
    routers = RouterLab(fleet).start()
    for endpoint in routers.endpoints():
        billing.set_node_endpoint(endpoint.name, endpoint.host, endpoint.port)
    billing.nodes = [node for node in billing.nodes if node["id"] != 901]  # no dead node here

    ispcube = ISPCubeLab(billing, API_KEY, CLIENT_ID, USER, PASSWORD).start()
    smartolt = SmartOLTLab(billing, TOKEN).start()
    environment = {
        "EMERALD_HOME": str(tmp_path / "home"),
        "EMERALD_ISPCUBE_URL": ispcube.url,
        "EMERALD_ISPCUBE_API_KEY": API_KEY,
        "EMERALD_ISPCUBE_CLIENT_ID": CLIENT_ID,
        "EMERALD_ISPCUBE_USER": USER,
        "EMERALD_ISPCUBE_PASSWORD": PASSWORD,
        "EMERALD_SMARTOLT_URL": smartolt.url,
        "EMERALD_SMARTOLT_TOKEN": TOKEN,
        "EMERALD_ROUTER_USERNAME": routers.username,
        "EMERALD_ROUTER_PASSWORD": routers.password,
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("EMERALD_INVENTORY", raising=False)
    yield Labs(billing, routers, ispcube, smartolt)
    for lab in (ispcube, smartolt, routers):
        lab.stop()


def invoke(database_url: str, *arguments: str):
    return runner.invoke(app, [*arguments, "--database-url", database_url])


def test_ispcube_nodes_are_the_routers_mikrotik_polls(labs, database_url: str):
    first = invoke(database_url, "sync", "ispcube", "--json")
    second = invoke(database_url, "sync", "mikrotik", "--json")
    third = invoke(database_url, "sync", "mikrotik", "--json")

    assert first.exit_code == 0, first.stderr
    report = json.loads(first.stdout)
    assert (report["source"], report["status"]) == ("ispcube", "ok")
    assert [t["name"] for t in report["targets"]] == ["connections", "customers", "nodes", "plans"]
    everyone = {("router-000", "ok"), ("router-001", "ok"), ("router-002", "ok")}
    for polling in (second, third):  # a poll leaves the routers ISPCube's
        assert polling.exit_code == 0, polling.stderr
        polled = json.loads(polling.stdout)["targets"]
        assert {(t["name"], t["status"]) for t in polled} == everyone


def secrets_of_node(database_url: str, node_id: int) -> tuple[int, dict[str, Any]]:
    """The id of the node's router and its live secrets' first sightings, by secret name."""
    engine = open_store(database_url)
    routers, secrets = schema.routers, schema.ppp_secrets
    with engine.connect() as conn:
        router_id = conn.execute(
            sa.select(routers.c.id).where(routers.c.node_id == node_id)
        ).scalar_one()
        rows = conn.execute(
            sa.select(secrets.c.name, secrets.c.first_seen_at).where(
                secrets.c.router_id == router_id, secrets.c.removed_at.is_(None)
            )
        ).all()
    engine.dispose()
    return router_id, dict(rows)


def test_a_renamed_node_is_polled_once_and_keeps_its_history(labs: Labs, database_url: str):
    invoke(database_url, "sync", "ispcube")
    invoke(database_url, "sync", "mikrotik")
    before = secrets_of_node(database_url, 1)
    labs.billing.node(1)["comment"] = "NODO RENOMBRADO"

    renamed = invoke(database_url, "sync", "ispcube")
    polled = invoke(database_url, "sync", "mikrotik", "--json")

    assert (renamed.exit_code, polled.exit_code) == (0, 0), polled.stderr
    targets = json.loads(polled.stdout)["targets"]
    assert sorted(t["name"] for t in targets) == ["NODO RENOMBRADO", "router-001", "router-002"]
    assert len(before[1]) == 15
    assert secrets_of_node(database_url, 1) == before


def polled(result: Any) -> list[tuple[str, str]]:
    assert result.exit_code == 0, result.stderr
    return sorted((t["name"], t["status"]) for t in json.loads(result.stdout)["targets"])


def test_a_node_without_a_port_is_polled_only_on_a_port_from_the_config(
    labs: Labs, database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    """Its router is made by the next `sync ispcube` (here within `sync all`) after the port
    is set under [defaults]; until then the node is reported."""
    port = {endpoint.name: endpoint.port for endpoint in labs.routers.endpoints()}["router-001"]
    labs.billing.node(2)["port"] = ""
    config = tmp_path / "emerald.toml"
    login = f'[defaults]\nusername = "{labs.routers.username}"\n'
    config.write_text(login + 'password_env = "EMERALD_ROUTER_PASSWORD"\n', encoding="utf-8")
    monkeypatch.setenv("EMERALD_CONFIG", str(config))

    reported = invoke(database_url, "sync", "ispcube", "--json")
    without_port = invoke(database_url, "sync", "mikrotik", "--json")
    config.write_text(config.read_text(encoding="utf-8") + f"port = {port}\n", encoding="utf-8")
    everything = invoke(database_url, "sync", "all", "--json")

    nodes = {t["name"]: t for t in json.loads(reported.stdout)["targets"]}["nodes"]
    assert nodes["detail"]["skipped_examples"] == [
        "node 2 (router-001) has no port: set the node's port in ISPCube, or port under "
        "[defaults] in the config file",
        "node 900 (NODO SIN IP) has no IP: set it in ISPCube",
    ]
    assert polled(without_port) == [("router-000", "ok"), ("router-002", "ok")]
    assert everything.exit_code == 0, everything.stderr
    runs = json.loads(everything.stdout)["runs"]
    nodes = {t["name"]: t for t in runs[0]["targets"]}["nodes"]
    assert nodes["detail"]["skipped"] == 1
    assert sorted((t["name"], t["status"]) for t in runs[1]["targets"]) == [
        ("router-000", "ok"),
        ("router-001", "ok"),
        ("router-002", "ok"),
    ]


def test_node_routers_log_in_with_the_config_files_defaults(
    labs: Labs, database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    """[defaults] of the config file, when there is one, gives the login: not the variables."""
    secret = tmp_path / "router-password"
    secret.write_text(labs.routers.password + "\n", encoding="utf-8")
    config = tmp_path / "emerald.toml"
    login = f'[defaults]\nusername = "{labs.routers.username}"\n'
    config.write_text(login + f'password_file = "{secret}"\n', encoding="utf-8")
    monkeypatch.setenv("EMERALD_CONFIG", str(config))
    monkeypatch.delenv("EMERALD_ROUTER_USERNAME")
    monkeypatch.delenv("EMERALD_ROUTER_PASSWORD")

    invoke(database_url, "sync", "ispcube")
    logged_in = invoke(database_url, "sync", "mikrotik", "--json")
    shown = runner.invoke(app, ["config", "show", "--json"])
    secret.write_text("not-the-password\n", encoding="utf-8")
    monkeypatch.setenv("EMERALD_ROUTER_USERNAME", labs.routers.username)
    monkeypatch.setenv("EMERALD_ROUTER_PASSWORD", labs.routers.password)
    refused = invoke(database_url, "sync", "mikrotik", "--json")

    assert polled(logged_in) == [("router-000", "ok"), ("router-001", "ok"), ("router-002", "ok")]
    login_shown = json.loads(shown.stdout)["node_login"]
    assert (login_shown["username"], login_shown["password"]) == (
        labs.routers.username,
        f"******** (file {secret})",
    )
    assert refused.exit_code == 1, refused.stderr
    assert {t["status"] for t in json.loads(refused.stdout)["targets"]} == {"auth_failed"}


def test_a_node_deleted_in_ispcube_is_no_longer_polled(labs: Labs, database_url: str):
    invoke(database_url, "sync", "ispcube")
    before = invoke(database_url, "sync", "mikrotik", "--json")
    deleted = next(node for node in labs.billing.nodes if node["id"] == 3)
    labs.billing.nodes.remove(deleted)

    removed = invoke(database_url, "sync", "ispcube", "--json")
    after = invoke(database_url, "sync", "mikrotik", "--json")
    while_gone = current_secrets(database_url)
    labs.billing.nodes.append(deleted)
    invoke(database_url, "sync", "ispcube")
    back = invoke(database_url, "sync", "mikrotik", "--json")

    assert polled(before) == [("router-000", "ok"), ("router-001", "ok"), ("router-002", "ok")]
    nodes = {t["name"]: t for t in json.loads(removed.stdout)["targets"]}["nodes"]
    assert nodes["detail"]["routers"] == {
        "from_nodes": 2,
        "adopted": 0,
        "renamed": 0,
        "removed": 1,
    }
    assert polled(after) == [("router-000", "ok"), ("router-001", "ok")]
    # What was read from the gone router is no longer current; it is again once polled.
    listed = {router.name: len(router.secrets) for router in labs.routers.fleet.routers}
    assert while_gone == {name: listed[name] for name in ("router-000", "router-001")}
    assert polled(back) == polled(before)
    assert current_secrets(database_url) == listed


def current_secrets(database_url: str) -> dict[str, int]:
    """How many secrets each router has that are not marked removed."""
    secrets, routers = schema.ppp_secrets, schema.routers
    engine = open_store(database_url)
    with engine.connect() as conn:
        counted = conn.execute(
            sa.select(routers.c.name, sa.func.count())
            .join(secrets, secrets.c.router_id == routers.c.id)
            .where(secrets.c.removed_at.is_(None))
            .group_by(routers.c.name)
        ).all()
    engine.dispose()
    return dict(counted)


def stored_routers(database_url: str) -> list[tuple[Any, ...]]:
    """Every router as (id, name, host, port, source, node_id), in name order."""
    routers = schema.routers
    columns = ("id", "name", "host", "port", "source", "node_id")
    engine = open_store(database_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(*(routers.c[c] for c in columns)).order_by("name")).all()
    engine.dispose()
    return [tuple(row) for row in rows]


def first_sightings(database_url: str) -> dict[int, dict[str, Any]]:
    """Each router's live secrets with when each was first seen, by router id."""
    secrets = schema.ppp_secrets
    columns = (secrets.c.router_id, secrets.c.name, secrets.c.first_seen_at)
    engine = open_store(database_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(*columns).where(secrets.c.removed_at.is_(None))).all()
    engine.dispose()
    sightings: dict[int, dict[str, Any]] = {}
    for router_id, name, first_seen_at in rows:
        sightings.setdefault(router_id, {})[name] = first_seen_at
    return sightings


EVERY_ROUTER_OK = [("router-000", "ok"), ("router-001", "ok"), ("router-002", "ok")]


def test_routers_polled_from_the_inventory_before_ispcube_are_stored_once(
    labs: Labs, database_url: str, tmp_path: Path
):
    """As the README goes: `sync mikrotik --inventory lab-inventory.toml`, then `sync all`.
    ISPCube's nodes name the same routers at the same addresses, and adopt them."""
    endpoints = labs.routers.endpoints()
    inventory = write_inventory(
        tmp_path / "lab-inventory.toml", endpoints, username=labs.routers.username
    )
    from_file = invoke(database_url, "sync", "mikrotik", "--inventory", str(inventory), "--json")
    before, sightings = stored_routers(database_url), first_sightings(database_url)
    everything = invoke(database_url, "sync", "all", "--json")
    again = invoke(database_url, "sync", "mikrotik", "--inventory", str(inventory), "--json")

    assert polled(from_file) == EVERY_ROUTER_OK
    assert [router[1:] for router in before] == [
        (endpoint.name, endpoint.host, endpoint.port, "inventory", None) for endpoint in endpoints
    ]
    assert everything.exit_code == 0, everything.stderr
    ispcube_run, mikrotik_run, _ = json.loads(everything.stdout)["runs"]
    nodes = {t["name"]: t for t in ispcube_run["targets"]}["nodes"]
    adopted = {"from_nodes": 3, "adopted": 3, "renamed": 0, "removed": 0}
    assert nodes["detail"]["routers"] == adopted
    assert sorted((t["name"], t["status"]) for t in mikrotik_run["targets"]) == EVERY_ROUTER_OK
    assert polled(again) == EVERY_ROUTER_OK
    assert stored_routers(database_url) == [
        (*router[:4], "ispcube", node_id)
        for router, node_id in zip(before, (1, 2, 3), strict=True)
    ]
    assert first_sightings(database_url) == sightings  # each secret once, its history kept


def test_an_inventory_never_takes_over_a_node_router_at_another_address(
    labs: Labs, database_url: str, tmp_path: Path
):
    """ISPCube first, then an inventory whose router-001 is router-002's address: that router
    is not polled and nothing is written for it, so the node's router keeps its address and
    `sync mikrotik` without --inventory polls the right device."""
    invoke(database_url, "sync", "ispcube")
    endpoints = {endpoint.name: endpoint for endpoint in labs.routers.endpoints()}
    elsewhere = dataclasses.replace(endpoints["router-002"], name="router-001")
    inventory = write_inventory(
        tmp_path / "routers.toml",
        [endpoints["router-000"], elsewhere],
        username=labs.routers.username,
    )
    before = stored_routers(database_url)

    mixed = invoke(database_url, "sync", "mikrotik", "--inventory", str(inventory), "--json")
    after_mixed = stored_routers(database_url), first_sightings(database_url)
    from_nodes = invoke(database_url, "sync", "mikrotik", "--json")

    assert mixed.exit_code == 3, mixed.stderr
    targets = json.loads(mixed.stdout)["targets"]
    assert [(t["name"], t["status"], t["attempts"]) for t in targets] == [
        ("router-000", "ok", 1),
        ("router-001", "data_error", 0),
    ]
    assert targets[1]["error"] == (
        f"router-001 is 127.0.0.1:{elsewhere.port} in the inventory but "
        f"127.0.0.1:{endpoints['router-001'].port} as the router of ISPCube node 2: not "
        "polled, not to mix two devices; rename the router in the inventory file, or correct "
        "node 2 in ISPCube"
    )
    [router_000, router_001, router_002] = before
    assert after_mixed == (before, {router_000[0]: after_mixed[1][router_000[0]]})
    assert polled(from_nodes) == EVERY_ROUTER_OK
    lab_secrets = {router.name: router.secrets for router in labs.routers.fleet.routers}
    stored_secrets = first_sightings(database_url)
    for router_id, name, *_ in (router_000, router_001, router_002):
        assert sorted(stored_secrets[router_id]) == sorted(s["name"] for s in lab_secrets[name])


def test_sync_all_runs_the_three_sources(labs, database_url: str):
    result = invoke(database_url, "sync", "all", "--json")

    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert (document["status"], document["error"]) == ("ok", None)
    assert [run["source"] for run in document["runs"]] == ["ispcube", "mikrotik", "smartolt"]
    shown = invoke(database_url, "sync", "all")
    assert (shown.exit_code, shown.stdout.splitlines()[-1]) == (0, "all sources: ok (3 runs)")
    listed = invoke(database_url, "runs", "--source", "smartolt", "--json")
    assert [run["source"] for run in json.loads(listed.stdout)] == ["smartolt", "smartolt"]
    wrong = invoke(database_url, "runs", "--source", "smartOLT")
    assert (wrong.exit_code, "the sources are mikrotik, ispcube, smartolt" in wrong.stderr) == (
        2,
        True,
    )


def test_an_empty_secret_file_is_exit_two(labs, database_url, monkeypatch, tmp_path: Path):
    empty = tmp_path / "api-key"
    empty.write_text("\n", encoding="utf-8")
    monkeypatch.delenv("EMERALD_ISPCUBE_API_KEY")
    monkeypatch.setenv("EMERALD_ISPCUBE_API_KEY_FILE", str(empty))

    result = invoke(database_url, "sync", "ispcube")

    assert result.exit_code == 2
    assert f"EMERALD_ISPCUBE_API_KEY_FILE={empty} is empty" in result.stderr


def test_sync_all_stopped_by_a_busy_source_still_reports_the_runs_done(labs, database_url: str):
    engine = open_store(database_url)
    holder = runs.start_run(engine, "smartolt", "schedule")
    lock.acquire_lock(engine, "smartolt", holder, "cron-host:4242")
    engine.dispose()

    result = invoke(database_url, "sync", "all", "--json")

    assert result.exit_code == 4
    document = json.loads(result.stdout)
    assert [(run["source"], run["status"]) for run in document["runs"]] == [
        ("ispcube", "ok"),
        ("mikrotik", "ok"),
    ]
    assert document["status"] == "failed"
    assert f"run {holder}" in document["error"] and f"run {holder}" in result.stderr


def interrupted(
    database_url: str, source: str, recorded: int, *command: str
) -> tuple[int, str, str]:
    """Run `emerald *command`, and send it SIGINT once `source`'s run has recorded `recorded`
    targets; its exit code, stdout and stderr."""
    emerald = Path(sys.executable).with_name("emerald")
    sync = subprocess.Popen(
        [emerald, *command, "--database-url", database_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    engine = open_store(database_url)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        held = lock.current_lock(engine, source)
        run = runs.get_run(engine, held["run_id"]) if held else None
        if run is not None and len(run["targets"]) >= recorded:
            break
        time.sleep(0.05)
    engine.dispose()
    time.sleep(0.3)  # into the hanging listing
    sync.send_signal(signal.SIGINT)
    stdout, stderr = sync.communicate(timeout=30)
    return sync.returncode, stdout, stderr


def test_sync_all_stopped_by_ctrl_c_reports_the_run_it_cut_short(labs: Labs, database_url: str):
    labs.smartolt.fault("onus", "hang")

    returncode, stdout, _ = interrupted(database_url, "smartolt", 1, "sync", "all", "--json")

    assert returncode == 130
    document = json.loads(stdout)
    assert [(run["source"], run["status"]) for run in document["runs"]] == [
        ("ispcube", "ok"),
        ("mikrotik", "ok"),
        ("smartolt", "interrupted"),
    ]
    assert document["runs"][2]["error"] == "stopped by Ctrl-C or SIGTERM"
    assert document["status"] == "interrupted"


@pytest.mark.parametrize(
    ("source", "hanging", "written"),
    [("ispcube", "customers", ["nodes", "plans"]), ("smartolt", "onus", ["olts"])],
)
def test_a_sync_stopped_by_ctrl_c_prints_its_run(
    labs: Labs, database_url: str, source: str, hanging: str, written: list[str]
):
    getattr(labs, source).fault(hanging, "hang")

    returncode, stdout, stderr = interrupted(
        database_url, source, len(written), "sync", source, "--json"
    )

    [run] = runs.list_runs(open_store(database_url))
    report = json.loads(stdout)
    assert returncode == 130
    assert (report["run_id"], report["status"], report["error"]) == (
        run["id"],
        "interrupted",
        "stopped by Ctrl-C or SIGTERM",
    )
    assert [(t["name"], t["status"]) for t in report["targets"]] == [
        (name, "ok") for name in written
    ]
    assert stderr.splitlines() == [
        f"error: run {run['id']} interrupted: rows written so far are kept; run the command again"
    ]


def test_a_database_failing_mid_run_still_prints_the_run(labs: Labs, database_url: str):
    """A table vanishing under the run stands in for a database that drops mid-run."""
    assert invoke(database_url, "sync", "smartolt").exit_code == 0
    engine = open_store(database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE onu_signals RENAME TO onu_signals_gone"))

    result = invoke(database_url, "sync", "smartolt", "--json")

    [run, _] = runs.list_runs(engine)
    engine.dispose()
    report = json.loads(result.stdout)
    assert result.exit_code == 1
    assert (report["run_id"], report["status"]) == (run["id"], "failed")
    assert report["error"] == run["error"]
    assert report["error"].startswith("the database failed while writing")
    assert [(t["name"], t["status"]) for t in report["targets"]] == [
        ("olts", "ok"),
        ("onu_statuses", "ok"),
        ("onus", "ok"),
    ]
    [line] = result.stderr.splitlines()
    assert line == f"error: run {run['id']} failed: {run['error']}"


def test_sync_all_checks_the_inventory_file_before_syncing_anything(
    labs, database_url: str, tmp_path: Path
):
    broken = tmp_path / "routers.toml"
    broken.write_text("[[routers]\n", encoding="utf-8")

    result = invoke(database_url, "sync", "all", "--json", "--inventory", str(broken))

    assert result.exit_code == 2
    assert (result.stdout, str(broken) in result.stderr) == ("", True)
    assert json.loads(invoke(database_url, "runs", "--json").stdout) == []


def test_sync_all_checks_router_credentials_before_syncing_anything(
    labs, database_url, monkeypatch
):
    monkeypatch.delenv("EMERALD_ROUTER_USERNAME")

    result = invoke(database_url, "sync", "all")

    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "error: EMERALD_ROUTER_USERNAME is not set, so the routers of ISPCube's nodes have no "
        "username: export it, or give [defaults] in the config file"
    ]
    assert runs.list_runs(open_store(database_url)) == []


@pytest.mark.parametrize(
    ("defaults", "expected"),
    [
        (
            None,
            "EMERALD_ROUTER_PASSWORD is not set, so the routers of ISPCube's nodes have no "
            "password: export it, or give [defaults] in the config file",
        ),
        (
            '[defaults]\nusername = "api"\npassword_env = "EMERALD_ROUTER_PASSWORD"\n',
            "{config}: [defaults]: password_env names EMERALD_ROUTER_PASSWORD, which is not set: "
            "export it or use password_file",
        ),
    ],
)
def test_a_missing_router_password_is_blamed_on_where_it_should_come_from(
    labs, database_url, monkeypatch, tmp_path: Path, defaults: str | None, expected: str
):
    monkeypatch.delenv("EMERALD_ROUTER_PASSWORD")
    config = tmp_path / "emerald.toml"
    if defaults is not None:
        config.write_text(defaults, encoding="utf-8")
        monkeypatch.setenv("EMERALD_CONFIG", str(config))

    result = invoke(database_url, "sync", "all")

    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [f"error: {expected.format(config=config)}"]


def test_only_a_router_ispcubes_nodes_do_not_name_says_so(labs, database_url):
    assert invoke(database_url, "sync", "ispcube").exit_code == 0

    result = invoke(database_url, "sync", "mikrotik", "--only", "nosuch")

    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [
        "error: --only nosuch: no such router among ISPCube's nodes (as the last `emerald sync "
        "ispcube` stored them), whose routers are router-000, router-001, router-002: fix the "
        "name, or run `emerald sync ispcube` if the node is new"
    ]


def test_missing_setting_is_exit_two_naming_the_variable(labs, database_url, monkeypatch):
    monkeypatch.delenv("EMERALD_SMARTOLT_TOKEN")

    result = invoke(database_url, "sync", "smartolt")

    assert result.exit_code == 2
    assert "set EMERALD_SMARTOLT_TOKEN (or EMERALD_SMARTOLT_TOKEN_FILE)" in result.stderr


def test_smartolt_settings_from_the_config_file_are_checked_and_shown(
    labs, database_url, monkeypatch, tmp_path: Path
):
    config = tmp_path / "emerald.toml"
    monkeypatch.setenv("EMERALD_CONFIG", str(config))
    config.write_text(
        "[smartolt]\ncalls_per_second = 5\nfull_export = true\ncalls_per_hour = 5000\n"
    )

    shown = runner.invoke(app, ["config", "show", "--json"])
    config.write_text("[smartolt]\ncalls_per_second = 20\n")
    refused = invoke(database_url, "sync", "smartolt")

    smartolt = json.loads(shown.stdout)["accounts"]["smartolt"]
    assert (smartolt["calls_per_second"], smartolt["full_export"]) == (5, True)
    assert (smartolt["calls_per_hour"], smartolt["full_exports_per_hour"]) == (5000, 3)
    config.write_text('[ispcube]\npage_size = "ten"\n')
    table = runner.invoke(app, ["config", "show"])
    assert "[ispcube] page_size must be a whole number" in " ".join(table.stdout.split())
    config.write_text("[ispcube]\npage_sise = 100\n")
    other_section = invoke(database_url, "sync", "smartolt")
    assert other_section.exit_code == 2
    assert "[ispcube]: unknown key 'page_sise'" in other_section.stderr
    assert refused.exit_code == 2
    assert refused.stderr.strip().endswith(
        "[smartolt] calls_per_second must be a whole number from 1 to 15"
    )


def test_a_locked_sqlite_file_is_one_line_and_exit_one(labs, monkeypatch, tmp_path: Path):
    path = tmp_path / "locked.db"
    url = f"sqlite:///{path}"
    assert invoke(url, "db", "upgrade").exit_code == 0
    monkeypatch.setattr(store_database, "SQLITE_BUSY_TIMEOUT_MS", 200)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        result = invoke(url, "sync", "ispcube", "--json")
    finally:
        holder.close()

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "error: the database failed (database is locked: another program holds the SQLite "
        "file): what was written before is kept; check the database and run the command again"
    ]


def test_config_show_gives_the_ispcube_paging_defaults(labs: Labs):
    shown = runner.invoke(app, ["config", "show", "--json"])

    ispcube = json.loads(shown.stdout)["accounts"]["ispcube"]
    assert (ispcube["page_size"], ispcube["max_customers"]) == (1000, 100_000)


def test_config_show_gives_the_login_ispcube_nodes_get(labs: Labs, monkeypatch):
    shown = runner.invoke(app, ["config", "show", "--json"])
    monkeypatch.delenv("EMERALD_ROUTER_USERNAME")
    monkeypatch.delenv("EMERALD_ROUTER_PASSWORD")
    missing = runner.invoke(app, ["config", "show", "--json"])

    login = json.loads(shown.stdout)["node_login"]
    assert login["username"] == labs.routers.username
    assert login["password"] == "******** (env EMERALD_ROUTER_PASSWORD)"
    assert labs.routers.password not in shown.stdout
    assert missing.exit_code == 0
    assert json.loads(missing.stdout)["node_login"]["not_configured"].startswith(
        "no router credentials for the ISPCube nodes: set EMERALD_ROUTER_USERNAME"
    )


def test_secret_from_a_file_and_never_shown(labs, database_url, monkeypatch, tmp_path: Path):
    secret = tmp_path / "api-key"
    secret.write_text(API_KEY + "\n", encoding="utf-8")
    monkeypatch.delenv("EMERALD_ISPCUBE_API_KEY")
    monkeypatch.setenv("EMERALD_ISPCUBE_API_KEY_FILE", str(secret))

    result = invoke(database_url, "sync", "ispcube", "--json", "--verbose")
    shown = runner.invoke(app, ["config", "show", "--json"])

    assert result.exit_code == 0, result.stderr
    log = (tmp_path / "home" / "emerald.log").read_text(encoding="utf-8")
    for text in (result.stdout, result.stderr, shown.stdout, log):
        for value in (API_KEY, PASSWORD, TOKEN):
            assert value not in text
    accounts = json.loads(shown.stdout)["accounts"]
    assert accounts["ispcube"]["api_key"] == "********"
    assert accounts["ispcube"]["origins"]["api_key"] == f"file {secret}"


def test_wrong_ispcube_password_exits_one_saying_why(labs, database_url, monkeypatch):
    """On stderr too: a cron job that discards stdout still learns the reason."""
    monkeypatch.setenv("EMERALD_ISPCUBE_PASSWORD", "not-it")

    result = invoke(database_url, "sync", "ispcube", "--json")
    table = invoke(database_url, "sync", "ispcube")

    assert (result.exit_code, table.exit_code) == (1, 1)
    report = json.loads(result.stdout)
    assert {t["status"] for t in report["targets"]} == {"auth_failed"}
    why = (
        "4 of 4 streams failed, first plans (auth_failed): ISPCube rejected the credentials "
        "(401 at /sanctum/token): check EMERALD_ISPCUBE_API_KEY, _CLIENT_ID, _USER and _PASSWORD"
    )
    assert report["error"] == why
    assert result.stderr.splitlines() == [f"error: run {report['run_id']} failed: {why}"]
    assert table.stderr.splitlines() == [f"error: run {report['run_id'] + 1} failed: {why}"]
    stored = json.loads(invoke(database_url, "runs", "--json").stdout)
    assert [run["error"] for run in stored] == [why, why]


def test_a_spent_smartolt_budget_is_the_runs_error(
    labs: Labs, database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    first = invoke(database_url, "sync", "smartolt", "--json")
    spent = sum(t["detail"]["requests"] for t in json.loads(first.stdout)["targets"])
    config = tmp_path / "emerald.toml"
    config.write_text(f"[smartolt]\ncalls_per_hour = {spent}\n", encoding="utf-8")
    monkeypatch.setenv("EMERALD_CONFIG", str(config))

    result = invoke(database_url, "sync", "smartolt", "--json")

    assert (first.exit_code, first.stderr, result.exit_code) == (0, "", 1)
    report = json.loads(result.stdout)
    olts = {t["name"]: t for t in report["targets"]}["olts"]
    assert olts["error"].startswith(f"not called: all {spent} calls of the hour are spent")
    why = f"4 of 4 streams failed, first olts (rate_limited): {olts['error']}"
    assert report["error"] == why
    assert result.stderr.splitlines() == [f"error: run {report['run_id']} failed: {why}"]
    shown = invoke(database_url, "runs", "show", str(report["run_id"]), "--json")
    assert json.loads(shown.stdout)["error"] == why


def test_sync_all_says_which_runs_did_not_end_ok(labs: Labs, database_url: str):
    """A line per run that did not end ok, then one for them all; --json says the same."""
    labs.routers.configure("router-001", fault="refuse")

    result = invoke(database_url, "sync", "all", "--json")
    table = invoke(database_url, "sync", "all")

    assert (result.exit_code, table.exit_code) == (3, 3)
    document = json.loads(result.stdout)
    mikrotik = document["runs"][1]
    refused = {t["name"]: t for t in mikrotik["targets"]}["router-001"]
    why = f"1 of 3 routers failed, first router-001 (unreachable): {refused['error']}"
    assert [run["error"] for run in document["runs"]] == [None, why, None]
    overall = f"1 of 3 runs did not end ok: run {mikrotik['run_id']} (mikrotik) partial"
    assert (document["status"], document["error"]) == ("partial", overall)
    assert result.stderr.splitlines() == [
        f"warning: run {mikrotik['run_id']} partial: {why}",
        f"warning: all sources partial: {overall}",
    ]
    again = mikrotik["run_id"] + 3
    assert table.stderr.splitlines() == [
        f"warning: run {again} partial: {why}",
        f"warning: all sources partial: 1 of 3 runs did not end ok: run {again} (mikrotik) "
        "partial",
    ]


def test_verbose_logs_info_to_stderr_with_json_on_stdout(labs: Labs, database_url: str):
    result = invoke(database_url, "sync", "smartolt", "--json", "--verbose")

    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    streams = [
        line.split(" duration=")[0]
        for line in result.stderr.splitlines()
        if line.startswith("info emerald_cli.engine.streams: ")
    ]
    assert streams == [
        f"info emerald_cli.engine.streams: stream={name} status=ok requests=1"
        for name in ("olts", "onus", "onu_statuses", "onu_signals")
    ]
    assert (
        f"info emerald_cli.engine.run: run={report['run_id']} source=smartolt trigger=cli started"
        in result.stderr.splitlines()
    )


def test_config_show_of_a_config_that_cannot_be_used_exits_two(labs: Labs, tmp_path: Path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[ispcube\n", encoding="utf-8")

    table = runner.invoke(app, ["config", "show", "--config", str(bad)])
    result = runner.invoke(app, ["config", "show", "--config", str(bad), "--json"])

    shown = json.loads(result.stdout)
    unreadable = (
        f"{bad}: not valid TOML (Expected ']' at the end of a table declaration (at line 1, "
        "column 9)): fix the file, written in UTF-8"
    )
    assert shown["accounts"] == {
        "ispcube": {"error": unreadable},
        "smartolt": {"error": unreadable},
    }
    assert shown["node_login"] == {"error": unreadable}
    assert [setting["setting"] for setting in shown["settings"]] == [
        "database_url",
        "data_dir",
        "log_file",
        "inventory",
        "config",
        "workers",
        "timeout",
    ]
    for shown_as in (table, result):
        assert shown_as.exit_code == 2
        assert shown_as.stderr.splitlines() == [
            "error: cannot be used as configured: router login for ISPCube's nodes, ispcube, "
            "smartolt; fix what the error rows say"
        ]
    assert "settings" in table.stdout and "not valid TOML" in " ".join(table.stdout.split())


def test_config_show_blames_a_sections_mistake_on_that_section_only(
    labs: Labs, database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    """ISPCube's settings all come from valid variables: [smartolt]'s unknown key is shown
    under smartolt alone, while a sync of either source still refuses the file."""
    config = tmp_path / "emerald.toml"
    config.write_text("[smartolt]\ncalls_per_sec = 5\n", encoding="utf-8")
    monkeypatch.setenv("EMERALD_CONFIG", str(config))

    shown = runner.invoke(app, ["config", "show", "--json"])
    table = runner.invoke(app, ["config", "show"])
    ispcube = invoke(database_url, "sync", "ispcube")

    accounts = json.loads(shown.stdout)["accounts"]
    assert accounts["ispcube"]["url"] == labs.ispcube.url
    assert accounts["ispcube"]["origins"]["url"] == "env EMERALD_ISPCUBE_URL"
    assert f"{labs.ispcube.url} (env EMERALD_ISPCUBE_URL)" in table.stdout
    unknown = (
        f"{config}: [smartolt]: unknown key 'calls_per_sec': allowed: url, token, page_size, "
        "full_export, calls_per_second, calls_per_hour, full_exports_per_hour, time_zone, "
        "timeout, retries"
    )
    assert accounts["smartolt"] == {"error": unknown}
    for result in (shown, table):
        assert result.exit_code == 2
        assert result.stderr.splitlines() == [
            "error: cannot be used as configured: smartolt; fix what the error rows say"
        ]
    assert (ispcube.exit_code, ispcube.stderr.splitlines()) == (2, [f"error: {unknown}"])


def test_config_show_of_a_source_left_unconfigured_exits_zero(labs: Labs, monkeypatch):
    assert runner.invoke(app, ["config", "show"]).exit_code == 0
    for name in ("SMARTOLT_URL", "SMARTOLT_TOKEN", "ROUTER_USERNAME", "ROUTER_PASSWORD"):
        monkeypatch.delenv(f"EMERALD_{name}")

    unused = runner.invoke(app, ["config", "show", "--json"])
    monkeypatch.delenv("EMERALD_ISPCUBE_PASSWORD")
    half_done = runner.invoke(app, ["config", "show", "--json"])

    assert (unused.exit_code, unused.stderr) == (0, "")
    assert json.loads(unused.stdout)["accounts"]["smartolt"] == {
        "not_configured": "smartolt is not configured: set EMERALD_SMARTOLT_URL (or "
        "EMERALD_SMARTOLT_URL_FILE)"
    }
    assert half_done.exit_code == 2
    assert json.loads(half_done.stdout)["accounts"]["ispcube"] == {
        "error": "ispcube setting password is missing: set EMERALD_ISPCUBE_PASSWORD (or "
        "EMERALD_ISPCUBE_PASSWORD_FILE)"
    }
    assert half_done.stderr.splitlines() == [
        "error: cannot be used as configured: ispcube; fix what the error rows say"
    ]


def test_api_streams_are_listed_in_the_order_they_ran(labs: Labs, database_url: str):
    """The stream that stopped the run comes before the ones it left `not called`."""
    labs.smartolt.fault("onus", "status", status=429, retry_after=3600)

    synced = invoke(database_url, "sync", "smartolt")
    shown = invoke(database_url, "runs", "show", "1")

    for result in (synced, shown):
        rows = [line.split("│") for line in result.stdout.splitlines() if line[:1] == "│"]
        assert [row[1].strip() for row in rows if row[1].strip()] == [
            "olts",
            "onus",
            "onu_statuses",
            "onu_signals",
        ], result.stdout


def test_only_reads_and_records_the_named_streams(labs: Labs, database_url: str):
    ispcube = invoke(
        database_url, "sync", "ispcube", "--only", "plans", "--only", "nodes", "--json"
    )
    smartolt = invoke(database_url, "sync", "smartolt", "--only", "onu_signals", "--json")
    unknown = invoke(database_url, "sync", "smartolt", "--only", "signals", "--only", "olts")

    assert (ispcube.exit_code, smartolt.exit_code) == (0, 0)
    assert [t["name"] for t in json.loads(ispcube.stdout)["targets"]] == ["nodes", "plans"]
    assert [t["name"] for t in json.loads(smartolt.stdout)["targets"]] == ["onu_signals"]
    requested = {
        lab: {endpoint: lab.request_count(endpoint) for endpoint in lab.paths}
        for lab in (labs.ispcube, labs.smartolt)
    }
    assert requested[labs.ispcube] == {
        "token": 1,
        "customers": 0,
        "connections": 0,
        "plans": 1,
        "nodes": 1,
    }
    assert requested[labs.smartolt] == {"olts": 0, "onus": 0, "statuses": 0, "signals": 1}
    assert (unknown.exit_code, unknown.stdout) == (2, "")
    assert unknown.stderr.splitlines() == [
        "error: --only signals: no such stream; the streams are olts, onus, onu_statuses, "
        "onu_signals"
    ]
