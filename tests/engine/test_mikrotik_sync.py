"""`sync_mikrotik` against lab routers over TCP, on SQLite and PostgreSQL.

Each test compares what is stored with what the lab holds, value for value.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from emerald_cli.engine.mikrotik import sync_mikrotik
from emerald_cli.errors import DatabaseError
from emerald_cli.sources.mikrotik.durations import seconds
from emerald_cli.store import schema
from emerald_cli.store.routers import upsert_node_router
from tests.engine.conftest import LabWorld, statuses, stored

SECRET_COLUMNS = {
    "name": "name",
    "service": "service",
    "profile": "profile",
    "disabled": "disabled",
    "comment": "comment",
    "last-logged-out": "last_logged_out",
    "remote-address": "remote_address",
}


def lab_secrets(world: LabWorld, router: str) -> dict[tuple[str, str], dict[str, str | None]]:
    rows = world.fleet.router(router).secrets
    return {
        (row["name"], ""): {
            column: row.get(attribute) for attribute, column in SECRET_COLUMNS.items()
        }
        for row in rows
    }


def db_secrets(engine: sa.Engine, router: str) -> dict[tuple[str, str], dict[str, str | None]]:
    return {
        key: {column: row[column] for column in SECRET_COLUMNS.values()}
        for key, row in stored(engine, "ppp_secrets", router).items()
    }


def test_first_sync_stores_every_value_as_the_router_sent_it(world: LabWorld, engine: sa.Engine):
    run = sync_mikrotik(engine, world.targets(), workers=2)

    report = run.report
    assert report.status == "ok"
    assert statuses(report) == {f"router-00{i}": "ok" for i in range(3)}
    for router in world.fleet.routers:
        assert db_secrets(engine, router.name) == lab_secrets(world, router.name)

    secrets = db_secrets(engine, "router-000")
    for tricky in ("0000", "00123", "10045", "true"):
        assert secrets[(tricky, "")]["name"] == tricky
    comments = {
        row["comment"]
        for r in ("router-000", "router-001")
        for row in db_secrets(engine, r).values()
    }
    assert {"Peña 100", "Muñoz y Cía.", "Castañeda 2140"} <= comments

    expected_rows = sum(
        len(r.secrets) + len(r.active) + len(r.profiles) + len(r.queues)
        for r in world.fleet.routers
    )
    assert report.counts.as_dict() == {
        "inserted": expected_rows,
        "updated": 0,
        "unchanged": 0,
        "removed": 0,
    }


def test_both_code_pages_arrive_as_the_same_text(world: LabWorld, engine: sa.Engine):
    utf8, latin1 = world.fleet.routers[0], world.fleet.routers[1]
    assert (utf8.encoding, latin1.encoding) == ("utf-8", "latin-1")
    utf8.secrets[0]["comment"] = "Ñandú ñoño"
    latin1.secrets[0]["comment"] = "Ñandú ñoño"

    sync_mikrotik(engine, world.targets(), workers=1)

    for router in (utf8, latin1):
        key = (router.secrets[0]["name"], "")
        assert db_secrets(engine, router.name)[key]["comment"] == "Ñandú ñoño"


def test_a_nul_in_router_text_is_dropped_not_fatal(world: LabWorld, engine: sa.Engine):
    """PostgreSQL refuses a NUL in text, which would otherwise fail the router's write."""
    router = world.fleet.routers[0]
    router.secrets[0]["comment"] = "Calle\x00 9"

    run = sync_mikrotik(engine, world.targets(), workers=1)

    assert statuses(run.report)[router.name] == "ok"
    assert db_secrets(engine, router.name)[(router.secrets[0]["name"], "")]["comment"] == (
        "Calle 9"
    )


def test_passwords_are_never_requested_nor_stored(world: LabWorld, engine: sa.Engine):
    sync_mikrotik(engine, world.targets(), workers=1)

    columns = {column["name"] for column in sa.inspect(engine).get_columns("ppp_secrets")}
    assert "password" not in columns
    with engine.connect() as conn:
        extras = [row[0] for row in conn.execute(sa.text("SELECT extra FROM ppp_secrets"))]
    assert not any(extra and "lab-secret" in extra for extra in extras)
    assert all("password" not in json.loads(extra) for extra in extras if extra)


def test_second_sync_reports_exactly_the_changed_rows(world: LabWorld, engine: sa.Engine):
    targets = world.targets()
    sync_mikrotik(engine, targets, workers=2)

    router = world.fleet.router("router-001")
    router.secrets[3]["profile"] = "CORTE"
    router.secrets[4]["disabled"] = "true" if router.secrets[4]["disabled"] == "false" else "false"
    gone = router.secrets.pop(10)
    router.secrets.append({**gone, "name": "pp-new-00001", ".id": "*9999"})

    run = sync_mikrotik(engine, targets, workers=2)

    by_name = {target.name: target for target in run.report.targets}
    assert by_name["router-001"].detail["ppp_secrets"] == {
        "inserted": 1,
        "updated": 2,
        "unchanged": len(router.secrets) - 3,
        "removed": 1,
    }
    for name in ("router-000", "router-002"):
        counts = by_name[name].counts.as_dict()
        assert (counts["inserted"], counts["removed"]) == (0, 0)
    assert (
        stored(engine, "ppp_secrets", "router-001")[(gone["name"], "")]["removed_at"] is not None
    )

    router.secrets.append(gone)
    run = sync_mikrotik(engine, targets, workers=2)
    detail = {t.name: t.detail for t in run.report.targets}["router-001"]["ppp_secrets"]
    assert (detail["inserted"], detail["updated"], detail["removed"]) == (0, 1, 0)
    assert stored(engine, "ppp_secrets", "router-001")[(gone["name"], "")]["removed_at"] is None


def test_sessions_that_only_grew_older_are_unchanged(world: LabWorld, engine: sa.Engine):
    """A live session's uptime grows every second: that alone is no change, and the stored
    time the session began stays as first computed."""
    targets = world.targets()
    sync_mikrotik(engine, targets, workers=2)
    router = world.fleet.router("router-000")
    before = stored(engine, "ppp_active", "router-000")
    for lab_router in world.fleet.routers:
        lab_router.session_age = lambda: 3_600.0
    reconnected = router.active[0]
    reconnected["session-id"] = "0x8FFFFFFF"

    run = sync_mikrotik(engine, targets, workers=2)

    by_name = {target.name: target for target in run.report.targets}
    assert by_name["router-000"].detail["ppp_active"] == {
        "inserted": 1,
        "updated": 0,
        "unchanged": len(router.active) - 1,
        "removed": 1,
    }
    for name in ("router-001", "router-002"):
        assert by_name[name].detail["ppp_active"]["updated"] == 0
    after = stored(engine, "ppp_active", "router-000")
    kept = next(key for key in before if key[0] != reconnected["name"])
    assert (after[kept]["uptime"], after[kept]["connected_at"]) == (
        before[kept]["uptime"],
        before[kept]["connected_at"],
    )
    assert before[kept]["connected_at"] is not None
    # The new session is written with its uptime as printed, an hour older than listed.
    fresh = after[(reconnected["name"], "0x8FFFFFFF")]
    assert fresh["uptime"] == router.active_rows()[0]["uptime"] != reconnected["uptime"]


def test_when_a_session_began_is_its_read_time_less_its_uptime(world: LabWorld, engine: sa.Engine):
    started = datetime.now(UTC)
    sync_mikrotik(engine, world.targets(), workers=2)
    finished = datetime.now(UTC)

    session = world.fleet.router("router-001").active[0]
    row = stored(engine, "ppp_active", "router-001")[(session["name"], session["session-id"])]
    uptime = timedelta(seconds=seconds(session["uptime"]))
    assert started - uptime - timedelta(seconds=1) <= row["connected_at"] <= finished - uptime


@pytest.mark.parametrize(
    ("fault", "options", "status"),
    [
        ("wrong_password", {}, "auth_failed"),
        ("refuse", {}, "unreachable"),
        ("silent", {}, "timeout"),
        ("silent_at_login", {}, "timeout"),
        ("trickle", {"byte_interval": 0.05}, "timeout"),
        ("never_finishes", {}, "timeout"),
        ("pause_mid_reply", {"pause": 4.0}, "timeout"),
        ("close_mid_reply", {}, "protocol_error"),
        ("fatal_mid_print", {}, "protocol_error"),
    ],
)
def test_a_failing_router_keeps_its_rows_and_the_others_sync(
    world: LabWorld, engine: sa.Engine, fault: str, options: dict, status: str
):
    targets = world.targets(timeout=1.5)
    sync_mikrotik(engine, targets, workers=2)
    before = stored(engine, "ppp_secrets", "router-001")

    world.lab.configure("router-001", fault=fault, **options)
    world.fleet.router("router-001").secrets[0]["comment"] = "must not arrive"
    world.fleet.router("router-002").secrets[0]["comment"] = "arrives"
    run = sync_mikrotik(engine, world.targets(timeout=1.5), workers=2)

    assert statuses(run.report) == {"router-000": "ok", "router-001": status, "router-002": "ok"}
    assert run.report.status == "partial"
    failed = {t.name: t for t in run.report.targets}["router-001"]
    assert failed.error
    assert failed.counts.as_dict() == {"inserted": 0, "updated": 0, "unchanged": 0, "removed": 0}
    assert stored(engine, "ppp_secrets", "router-001") == before
    comments = [row["comment"] for row in stored(engine, "ppp_secrets", "router-002").values()]
    assert comments.count("arrives") == 1


def test_flaky_router_is_retried_until_it_answers(world: LabWorld, engine: sa.Engine):
    world.lab.configure("router-002", fault="flaky", failures=2)

    run = sync_mikrotik(engine, world.targets(timeout=8), workers=1)

    target = {t.name: t for t in run.report.targets}["router-002"]
    assert (target.status, target.attempts) == ("ok", 3)


def test_wrong_password_is_not_retried(world: LabWorld, engine: sa.Engine):
    world.lab.configure("router-002", fault="wrong_password")

    run = sync_mikrotik(engine, world.targets(), workers=1)

    target = {t.name: t for t in run.report.targets}["router-002"]
    assert (target.status, target.attempts) == ("auth_failed", 1)
    assert world.lab.stats("router-002").connections == 1


def test_missing_menu_is_skipped_and_its_table_left_alone(world: LabWorld, engine: sa.Engine):
    sync_mikrotik(engine, world.targets(), workers=1)
    queues_before = stored(engine, "queues", "router-000")
    assert queues_before

    world.lab.configure("router-000", fault="missing_menu", menu="/queue/simple")
    world.fleet.router("router-000").secrets[0]["comment"] = "still synced"
    run = sync_mikrotik(engine, world.targets(), workers=1)

    target = {t.name: t for t in run.report.targets}["router-000"]
    assert target.status == "ok"
    assert "queues" in target.error and "no such command" in target.error
    assert "queues" not in target.detail or target.detail["queues"] is None
    assert stored(engine, "queues", "router-000") == queues_before
    assert (
        db_secrets(engine, "router-000")[(world.fleet.routers[0].secrets[0]["name"], "")][
            "comment"
        ]
        == "still synced"
    )


def test_tls_modes_and_legacy_login(world: LabWorld, engine: sa.Engine):
    world.lab.configure("router-000", fault="tls_only")
    world.lab.configure("router-001", fault="tls_cert")
    world.lab.configure("router-002", fault="legacy_login")

    run = sync_mikrotik(engine, world.targets(), workers=2)

    assert statuses(run.report) == {"router-000": "ok", "router-001": "ok", "router-002": "ok"}
    assert db_secrets(engine, "router-002") == lab_secrets(world, "router-002")


def test_dry_run_writes_nothing(world: LabWorld, engine: sa.Engine):
    run = sync_mikrotik(engine, world.targets(), workers=1, dry_run=True)

    assert run.report.run_id is None
    assert run.report.counts.inserted > 0
    with engine.connect() as conn:
        for table in ("routers", "ppp_secrets", "sync_runs", "sync_targets"):
            assert conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar() == 0  # noqa: S608


def test_run_history_records_every_router(world: LabWorld, engine: sa.Engine):
    world.lab.configure("router-002", fault="refuse")

    run = sync_mikrotik(engine, world.targets(), workers=1)

    with engine.connect() as conn:
        runs = conn.execute(sa.text("SELECT id, source, trigger, status FROM sync_runs")).all()
        targets = conn.execute(
            sa.text("SELECT name, status, error FROM sync_targets ORDER BY name")
        ).all()
    assert [tuple(row) for row in runs] == [(run.report.run_id, "mikrotik", "cli", "partial")]
    assert [(row.name, row.status) for row in targets] == [
        ("router-000", "ok"),
        ("router-001", "ok"),
        ("router-002", "unreachable"),
    ]
    assert "cannot connect to 127.0.0.1" in targets[2].error


def test_a_router_named_like_a_node_router_elsewhere_is_not_polled(
    world: LabWorld, engine: sa.Engine, caplog: pytest.LogCaptureFixture
):
    """It would move the node's router to another device; one at the node router's own
    address is that device, and is polled."""
    first = world.lab.endpoint("router-000")
    moved = world.lab.endpoint("router-001")
    with engine.begin() as conn:
        same = node_router(conn, 1, "router-000", first.host, first.port)
        node = node_router(conn, 2, "router-001", "192.0.2.7", 8728)

    run = sync_mikrotik(engine, world.targets(), workers=2)

    assert statuses(run.report) == {
        "router-000": "ok",
        "router-001": "data_error",
        "router-002": "ok",
    }
    refused = {t.name: t for t in run.report.targets}["router-001"]
    error = (
        f"router-001 is 127.0.0.1:{moved.port} in the inventory but 192.0.2.7:8728 as the "
        "router of ISPCube node 2: not polled, not to mix two devices; rename the router in "
        "the inventory file, or correct node 2 in ISPCube"
    )
    assert (refused.error, refused.attempts, refused.counts.inserted) == (error, 0, 0)
    assert world.lab.stats("router-001").connections == 0
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
        f"router=router-001 status=data_error {error}"
    ]
    with engine.connect() as conn:
        columns = ("id", "name", "host", "port", "source", "node_id")
        query = sa.select(*(schema.routers.c[column] for column in columns)).order_by("id")
        rows = [tuple(row) for row in conn.execute(query)]
        recorded = conn.execute(sa.text("SELECT status, error FROM sync_targets")).all()
    assert rows[:2] == [
        (same, "router-000", first.host, first.port, "ispcube", 1),
        (node, "router-001", "192.0.2.7", 8728, "ispcube", 2),
    ]
    assert [row[1:] for row in rows[2:]] == [
        ("router-002", "127.0.0.1", world.lab.endpoint("router-002").port, "inventory", None)
    ]
    assert stored(engine, "ppp_secrets", "router-001") == {}
    assert ("data_error", error) in [tuple(row) for row in recorded]


def node_router(conn: sa.Connection, node_id: int, name: str, host: str, port: int) -> int:
    now = datetime.now(UTC)
    return upsert_node_router(
        conn, source="ispcube", node_id=node_id, name=name, host=host, port=port, now=now
    )


# The cases below were reported against other RouterOS clients in public issue threads.


def test_a_7_18_router_with_no_secrets_but_active_sessions(world: LabWorld, engine: sa.Engine):
    router = world.fleet.router("router-000")
    router.secrets.clear()
    world.lab.configure("router-000", style="v7.18")

    run = sync_mikrotik(engine, world.targets(), workers=1)

    target = {t.name: t for t in run.report.targets}["router-000"]
    assert target.status == "ok"
    assert target.detail["ppp_secrets"]["inserted"] == 0
    assert target.detail["ppp_active"]["inserted"] == len(router.active) > 0


def test_fleet_of_old_good_wrong_and_non_ascii_password(tmp_path, monkeypatch, engine):
    world = LabWorld(tmp_path, monkeypatch, routers=4, secrets=10)
    try:
        world.lab.configure("router-000", fault="legacy_login")
        world.lab.configure("router-002", fault="wrong_password")
        world.lab.configure("router-003", password="contraseña-ñ")

        run = sync_mikrotik(engine, world.targets(), workers=2)
    finally:
        world.lab.stop()

    assert statuses(run.report) == {
        "router-000": "ok",
        "router-001": "ok",
        "router-002": "auth_failed",
        "router-003": "ok",
    }
    assert db_secrets(engine, "router-003") == lab_secrets(world, "router-003")


def test_pause_longer_than_the_deadline_cuts_the_router(world: LabWorld, engine: sa.Engine):
    world.lab.configure("router-001", fault="pause_mid_reply", pause=12.0)

    run = sync_mikrotik(engine, world.targets(timeout=10), workers=2)

    target = {t.name: t for t in run.report.targets}["router-001"]
    assert target.status == "timeout"
    assert target.attempts == 1
    assert world.lab.stats("router-001").connections == 1


def test_fifty_routers_with_dead_ones(tmp_path, monkeypatch, engine: sa.Engine):
    world = LabWorld(tmp_path, monkeypatch, routers=50, secrets=10)
    try:
        for index in range(5):
            world.lab.configure(f"router-{index:03d}", fault="refuse")
        world.lab.configure("router-010", fault="silent_at_login")
        world.lab.configure("router-020", fault="never_finishes")

        run = sync_mikrotik(engine, world.targets(timeout=3), workers=2)
    finally:
        world.lab.stop()

    counted: dict[str, int] = {}
    for status in statuses(run.report).values():
        counted[status] = counted.get(status, 0) + 1
    assert counted == {"ok": 43, "unreachable": 5, "timeout": 2}
    assert all(t.duration_s <= 3 + 2.5 for t in run.report.targets)


@pytest.mark.slow
def test_fifty_thousand_secrets_on_one_router(tmp_path, monkeypatch, database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("the volume case is asked of SQLite; PostgreSQL is covered by the benchmark")
    from emerald_cli.engine.database import open_store  # noqa: PLC0415

    engine = open_store(database_url)
    world = LabWorld(tmp_path, monkeypatch, routers=1, secrets=50_000)
    try:
        run = sync_mikrotik(engine, world.targets(timeout=120), workers=1)
        assert run.report.status == "ok"
        assert run.report.targets[0].detail["ppp_secrets"]["inserted"] == 50_000

        world.fleet.routers[0].secrets[123]["comment"] = "changed in the second run"
        run = sync_mikrotik(engine, world.targets(timeout=120), workers=1)
        assert run.report.targets[0].detail["ppp_secrets"] == {
            "inserted": 0,
            "updated": 1,
            "unchanged": 49_999,
            "removed": 0,
        }
        assert db_secrets(engine, "router-000") == lab_secrets(world, "router-000")
    finally:
        world.lab.stop()
        engine.dispose()


def test_database_failure_mid_run_keeps_what_was_written(world: LabWorld, engine: sa.Engine):
    """A table vanishing under the run stands in for a database that drops mid-run."""
    targets = world.targets()
    sync_mikrotik(engine, targets, workers=1)
    before = {router.name: db_secrets(engine, router.name) for router in world.fleet.routers}
    for router in world.fleet.routers:
        router.secrets[0]["comment"] = "written only if the whole router is"
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE queues RENAME TO queues_gone"))

    with pytest.raises(DatabaseError, match=r"while writing router router-00\d .*sync again"):
        sync_mikrotik(engine, targets, workers=1)

    after = {router.name: db_secrets(engine, router.name) for router in world.fleet.routers}
    assert after == before
    with engine.connect() as conn:
        runs = conn.execute(sa.text("SELECT status, error FROM sync_runs ORDER BY id")).all()
    assert [run.status for run in runs] == ["ok", "failed"]
    assert "while writing router" in runs[1].error
