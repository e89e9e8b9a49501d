"""`sync ispcube` and `sync smartolt` against the lab's HTTP servers, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from emerald_cli.accounts import ISPCubeAccount, SmartOLTAccount
from emerald_cli.engine.ispcube import sync_ispcube
from emerald_cli.engine.run import Progress, RunReport, SyncRun
from emerald_cli.engine.smartolt import sync_smartolt
from emerald_cli.lab.billing import GONE_NODE_ID, Billing, build_billing
from emerald_cli.lab.dataset import build_fleet
from emerald_cli.lab.ispcube import ISPCubeLab
from emerald_cli.lab.smartolt import SmartOLTLab
from emerald_cli.store import schema
from emerald_cli.store.routers import upsert_router

API_KEY, CLIENT_ID, USER, PASSWORD, TOKEN = "lab-key", "77", "api", "lab-pass", "lab-token"
# The tables each ISPCube stream writes.
STREAM_TABLES = {
    "plans": ("plans",),
    "nodes": ("nodes",),
    "customers": ("customers", "customer_emails", "customer_phones"),
    "connections": ("connections",),
}
SNAPSHOTS = [name for names in STREAM_TABLES.values() for name in names]
POSITION = ("olt_id", "board", "port", "onu")
HOURLY_RUNS_A_MONTH = 24 * 30
ISPCUBE_MONTHLY_REQUESTS_PER_CONNECTION = 2.5
UNANSWERED = ("unreachable", "timeout")
"""The statuses of a service that did not answer: the run stops calling it."""


@pytest.fixture
def billing() -> Billing:
    """The lab's world, each router's node given the API port (the lab seeds none)."""
    created = build_billing(build_fleet(seed=11, routers=3, secrets=20))
    for router in created.fleet.routers:
        created.set_node_endpoint(router.name, "127.0.0.1", 8728)
    return created


@pytest.fixture
def ispcube(billing: Billing) -> Iterator[ISPCubeLab]:
    lab = ISPCubeLab(billing, API_KEY, CLIENT_ID, USER, PASSWORD, trickle_interval=0.5)
    with lab:
        yield lab


@pytest.fixture
def smartolt(billing: Billing) -> Iterator[SmartOLTLab]:
    with SmartOLTLab(billing, TOKEN, trickle_interval=0.5) as lab:
        yield lab


def ispcube_account(lab: ISPCubeLab, **changes: Any) -> ISPCubeAccount:
    settings = {
        "url": lab.url,
        "api_key": API_KEY,
        "client_id": CLIENT_ID,
        "username": USER,
        "password": PASSWORD,
        "timeout": 1.0,
        "retries": 1,
        **changes,
    }
    return ISPCubeAccount(**settings)


def smartolt_account(lab: SmartOLTLab, **changes: Any) -> SmartOLTAccount:
    return SmartOLTAccount(
        **{"url": lab.url, "token": TOKEN, "timeout": 1.0, "retries": 1, **changes}
    )


def statuses(report: RunReport) -> dict[str, str]:
    return {target.name: target.status for target in report.targets}


def table(engine: sa.Engine, name: str, key: str) -> dict[Any, dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(schema.metadata.tables[name])).mappings().all()
    return {row[key]: dict(row) for row in rows}


def test_ispcube_streams_land_typed(engine, ispcube: ISPCubeLab, billing: Billing):
    run = sync_ispcube(engine, ispcube_account(ispcube))

    assert run.report.status == "ok"
    assert statuses(run.report) == dict.fromkeys(
        ("plans", "nodes", "customers", "connections"), "ok"
    )
    customers = table(engine, "customers", "customer_id")
    assert sorted(customers) == sorted(row["id"] for row in billing.customers)

    first = customers[1001]
    assert (first["code"], first["status"], first["lat"], first["lng"]) == (
        "000101",
        "enabled",
        None,
        None,
    )
    assert (first["block"], first["free"], first["debt"]) == (True, False, Decimal("0.00"))
    assert first["created_at"].astimezone(UTC) == datetime(2021, 1, 1, 3, 0, tzinfo=UTC)
    # "2021-01-01 00:00:00" is account-local: midnight in Buenos Aires is 03:00 UTC.
    assert first["start_date"].astimezone(UTC) == datetime(2021, 1, 1, 3, 0, tzinfo=UTC)

    plans = table(engine, "plans", "plan_id")
    assert {plan_id: row["name"] for plan_id, row in plans.items()} == {
        plan["id"]: plan["name"] for plan in billing.plans
    }
    emails = table(engine, "customer_emails", "email")
    assert emails["cliente0@example.com"]["customer_id"] == 1001
    sent = next(row for row in billing.customers if row["id"] == 1001)["contact_emails"][0]
    assert json.loads(emails["cliente0@example.com"]["raw"]) == sent


def test_paged_listings_tell_the_display_how_far_they_got(
    engine, ispcube: ISPCubeLab, smartolt: SmartOLTLab, billing: Billing
):
    told: list[tuple[str, int, int | None]] = []
    progress = Progress(read=lambda *listing: told.append(listing))

    sync_ispcube(engine, ispcube_account(ispcube, page_size=25), progress=progress)
    sync_smartolt(engine, smartolt_account(smartolt, page_size=20), progress=progress)

    customers, onus = len(billing.customers), len(billing.onus)
    assert told == [
        *(("customers", min(read, customers), None) for read in range(25, customers + 25, 25)),
        *(("onus", min(read, onus), onus) for read in range(20, onus + 20, 20)),
    ]


def test_an_amount_no_column_holds_is_stored_as_unknown(
    engine, ispcube: ISPCubeLab, billing: Billing
):
    """On PostgreSQL it would overflow numeric(14, 2) and fail the whole customers stream."""
    billing.customers[0]["debt"] = "123456789012345.00"

    run = sync_ispcube(engine, ispcube_account(ispcube))

    assert run.report.status == "ok"
    assert table(engine, "customers", "customer_id")[billing.customers[0]["id"]]["debt"] is None


def test_a_record_listed_twice_is_reported_not_silently_merged(
    engine, ispcube: ISPCubeLab, billing: Billing
):
    twice = dict(billing.connections[3], address="LISTED AGAIN")
    billing.connections.append(twice)

    run = sync_ispcube(engine, ispcube_account(ispcube))

    connections = {t.name: t for t in run.report.targets}["connections"]
    assert connections.status == "ok"
    assert connections.detail["skipped"] == 1
    assert connections.detail["skipped_examples"] == [
        f"connections row connection_id={twice['id']} sent more than once: the last is kept"
    ]
    stored = table(engine, "connections", "connection_id")[twice["id"]]
    assert stored["address"] == "LISTED AGAIN"


def test_nodes_become_routers_and_a_node_without_ip_is_reported(engine, ispcube: ISPCubeLab):
    run = sync_ispcube(engine, ispcube_account(ispcube))

    with engine.connect() as conn:
        routers = conn.execute(
            sa.text("SELECT name, host, port, node_id, source FROM routers ORDER BY node_id")
        ).all()
    assert [tuple(row) for row in routers] == [
        ("router-000", "127.0.0.1", 8728, 1, "ispcube"),
        ("router-001", "127.0.0.1", 8728, 2, "ispcube"),
        ("router-002", "127.0.0.1", 8728, 3, "ispcube"),
        ("router-gone", "127.0.0.1", 1, 901, "ispcube"),
    ]
    nodes = {t.name: t for t in run.report.targets}["nodes"]
    assert nodes.detail["skipped"] == 1
    assert nodes.detail["skipped_examples"] == [
        "node 900 (NODO SIN IP) has no IP: set it in ISPCube"
    ]


def test_a_node_without_a_port_is_reported_not_polled(engine, ispcube, billing: Billing):
    billing.node(2)["port"] = None

    run = sync_ispcube(engine, ispcube_account(ispcube))

    assert [(name, node_id, live) for _, name, _, node_id, live in routers_of(engine)] == [
        ("router-000", 1, True),
        ("router-002", 3, True),
        ("router-gone", GONE_NODE_ID, True),
    ]
    nodes = {t.name: t for t in run.report.targets}["nodes"]
    assert nodes.detail["skipped_examples"] == [
        "node 2 (router-001) has no port: set the node's port in ISPCube, or port under "
        "[defaults] in the config file",
        "node 900 (NODO SIN IP) has no IP: set it in ISPCube",
    ]
    stored = table(engine, "nodes", "node_id")[2]
    assert (stored["ip"], stored["port"], stored["port_defaulted"]) == ("127.0.0.1", None, False)


def test_a_node_without_a_port_gets_the_default_port(engine, ispcube, billing: Billing):
    """The port [defaults] of the config file gives, which `sync ispcube` passes down."""
    billing.node(2)["port"] = ""

    run = sync_ispcube(engine, ispcube_account(ispcube), default_port=18728)

    with engine.connect() as conn:
        ports = conn.execute(sa.text("SELECT node_id, port FROM routers ORDER BY node_id"))
        assert [tuple(row) for row in ports] == [(1, 8728), (2, 18728), (3, 8728), (901, 1)]
    nodes = {t.name: t for t in run.report.targets}["nodes"]
    assert nodes.detail["skipped_examples"] == [
        "node 900 (NODO SIN IP) has no IP: set it in ISPCube"
    ]
    stored = table(engine, "nodes", "node_id")[2]
    assert (stored["port"], stored["port_defaulted"]) == (18728, True)


def test_the_nodes_table_holds_every_node(engine, ispcube: ISPCubeLab):
    """A node without an IP is stored with the others; only its router is left out."""
    sync_ispcube(engine, ispcube_account(ispcube))

    nodes = table(engine, "nodes", "node_id")
    assert sorted(nodes) == [1, 2, 3, 900, 901]
    shown = ("name", "ip", "port", "port_defaulted", "removed_at")
    assert {key: nodes[900][key] for key in shown} == {
        "name": "NODO SIN IP",
        "ip": None,
        "port": 8728,
        "port_defaulted": False,
        "removed_at": None,
    }
    assert json.loads(nodes[900]["raw"]) == {
        "id": 900,
        "comment": "NODO SIN IP",
        "ip": None,
        "port": "8728",
    }


def routers_of(engine: sa.Engine) -> list[tuple[Any, ...]]:
    """Every router row as (id, name, source, node_id, live?), in id order."""
    routers = schema.routers
    columns = (routers.c.id, routers.c.name, routers.c.source, routers.c.node_id)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(*columns, routers.c.removed_at).order_by(routers.c.id))
        return [(*row[:4], row.removed_at is None) for row in rows]


def router_detail(run: SyncRun) -> dict[str, int]:
    return {t.name: t.detail for t in run.report.targets}["nodes"]["routers"]


def test_a_renamed_node_renames_its_router(engine, ispcube: ISPCubeLab, billing: Billing):
    sync_ispcube(engine, ispcube_account(ispcube))
    [first, second, *rest] = routers_of(engine)
    billing.node(1)["comment"] = "NODO RENOMBRADO"

    run = sync_ispcube(engine, ispcube_account(ispcube))

    assert routers_of(engine) == [(first[0], "NODO RENOMBRADO", "ispcube", 1, True), second, *rest]
    assert router_detail(run) == {"from_nodes": 4, "adopted": 0, "renamed": 1, "removed": 0}


def test_two_nodes_can_swap_names(engine, ispcube: ISPCubeLab, billing: Billing):
    sync_ispcube(engine, ispcube_account(ispcube))
    [first, second, *rest] = routers_of(engine)
    billing.node(1)["comment"], billing.node(2)["comment"] = "router-001", "router-000"

    run = sync_ispcube(engine, ispcube_account(ispcube))

    assert routers_of(engine) == [
        (first[0], "router-001", "ispcube", 1, True),
        (second[0], "router-000", "ispcube", 2, True),
        *rest,
    ]
    assert router_detail(run) == {"from_nodes": 4, "adopted": 0, "renamed": 2, "removed": 0}


def test_a_node_named_like_another_router_leaves_that_router_alone(
    engine, ispcube: ISPCubeLab, billing: Billing, caplog: pytest.LogCaptureFixture
):
    """Neither the inventory's router nor the removed router of an earlier node is taken
    over: each keeps its name and rows, and the node's router gets the node id added."""
    sync_ispcube(engine, ispcube_account(ispcube))
    with engine.begin() as conn:
        core = upsert_router(conn, name="core-1", host="10.0.0.1", port=8728)
    [first, second, third, gone] = routers_of(engine)[:4]
    billing.node(1)["comment"] = "core-1"
    billing.node(GONE_NODE_ID)["id"] = 902  # node 901 is deleted, 902 created with its name

    run = sync_ispcube(engine, ispcube_account(ispcube))

    *kept, (_new_id, *made) = routers_of(engine)
    assert kept == [
        (first[0], "core-1-1", "ispcube", 1, True),
        second,
        third,
        (gone[0], "router-gone", "ispcube", GONE_NODE_ID, False),
        (core, "core-1", "inventory", None, True),
    ]
    assert made == ["router-gone-902", "ispcube", 902, True]
    assert router_detail(run) == {"from_nodes": 4, "adopted": 0, "renamed": 1, "removed": 1}
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
        f"node=1 name 'core-1' is router id={core}'s already: its router is named 'core-1-1'",
        f"node=902 name 'router-gone' is router id={gone[0]}'s already: "
        "its router is named 'router-gone-902'",
    ]


def test_a_node_adopts_the_inventory_router_at_its_address(
    engine, ispcube: ISPCubeLab, billing: Billing, caplog: pytest.LogCaptureFixture
):
    """The same device is one router: the inventory's row becomes the node's, keeping its id
    and so its rows, named after the node unless another router has that name."""
    for offset, router in enumerate(billing.fleet.routers):
        billing.set_node_endpoint(router.name, "192.0.2.1", 18728 + offset)
    with engine.begin() as conn:
        same = upsert_router(conn, name="router-000", host="192.0.2.1", port=18728)
        other = upsert_router(conn, name="core-b", host="192.0.2.1", port=18729)
        elsewhere = upsert_router(conn, name="router-002", host="192.0.2.9", port=18730)
        taken = upsert_router(conn, name="core-c", host="192.0.2.1", port=18730)
    caplog.set_level(logging.INFO, logger="emerald_cli.engine.ispcube")

    run = sync_ispcube(engine, ispcube_account(ispcube))

    *kept, (_new_id, *made) = routers_of(engine)
    assert kept == [
        (same, "router-000", "ispcube", 1, True),
        (other, "router-001", "ispcube", 2, True),
        (elsewhere, "router-002", "inventory", None, True),
        (taken, "router-002-3", "ispcube", 3, True),
    ]
    assert made == ["router-gone", "ispcube", GONE_NODE_ID, True]
    assert router_detail(run) == {"from_nodes": 4, "adopted": 3, "renamed": 2, "removed": 0}
    logged = [r.getMessage() for r in caplog.records if r.name == "emerald_cli.engine.ispcube"]
    assert logged == [
        f"node=1 router=router-000 id={same} at 192.0.2.1:18728 adopted from the inventory, "
        "with its history",
        f"node=2 router=core-b id={other} at 192.0.2.1:18729 adopted from the inventory, "
        "with its history",
        f"node=3 router=core-c id={taken} at 192.0.2.1:18730 adopted from the inventory, "
        "with its history",
        f"node=3 name 'router-002' is router id={elsewhere}'s already: its router is named "
        "'router-002-3'",
    ]


def test_of_nodes_at_one_address_the_one_with_the_routers_name_adopts_it(
    engine, ispcube: ISPCubeLab
):
    """In this lab every node but the gone one is at 127.0.0.1:8728."""
    with engine.begin() as conn:
        core = upsert_router(conn, name="router-001", host="127.0.0.1", port=8728)

    run = sync_ispcube(engine, ispcube_account(ispcube))

    [adopted, *made] = routers_of(engine)
    assert adopted == (core, "router-001", "ispcube", 2, True)
    assert [row[1:] for row in made] == [
        ("router-000", "ispcube", 1, True),
        ("router-002", "ispcube", 3, True),
        ("router-gone", "ispcube", GONE_NODE_ID, True),
    ]
    assert router_detail(run) == {"from_nodes": 4, "adopted": 1, "renamed": 0, "removed": 0}


def test_a_node_with_a_router_of_its_own_adopts_none(engine, ispcube: ISPCubeLab):
    """An inventory router added later at a node's address is left to the inventory."""
    sync_ispcube(engine, ispcube_account(ispcube))
    before = routers_of(engine)
    with engine.begin() as conn:
        core = upsert_router(conn, name="core-1", host="127.0.0.1", port=8728)

    run = sync_ispcube(engine, ispcube_account(ispcube))

    assert routers_of(engine) == [*before, (core, "core-1", "inventory", None, True)]
    assert router_detail(run) == {"from_nodes": 4, "adopted": 0, "renamed": 0, "removed": 0}


def test_a_node_deleted_or_left_without_ip_loses_its_router_until_it_is_back(
    engine, ispcube: ISPCubeLab, billing: Billing
):
    sync_ispcube(engine, ispcube_account(ispcube))
    [first, second, third, gone] = routers_of(engine)
    deleted = billing.nodes.pop(2)
    billing.node(2)["ip"] = ""

    removed = sync_ispcube(engine, ispcube_account(ispcube))
    after_removal = routers_of(engine)
    billing.nodes.insert(2, deleted)
    billing.node(2)["ip"] = "127.0.0.1"
    back = sync_ispcube(engine, ispcube_account(ispcube))

    assert after_removal == [
        first,
        (second[0], "router-001", "ispcube", 2, False),
        (third[0], "router-002", "ispcube", 3, False),
        gone,
    ]
    assert router_detail(removed) == {"from_nodes": 2, "adopted": 0, "renamed": 0, "removed": 2}
    assert sorted(table(engine, "nodes", "node_id")) == [1, 2, 3, 900, 901]
    assert routers_of(engine) == [first, second, third, gone]
    assert router_detail(back) == {"from_nodes": 4, "adopted": 0, "renamed": 0, "removed": 0}


def test_second_ispcube_run_reports_exactly_the_changes(engine, ispcube, billing: Billing):
    sync_ispcube(engine, ispcube_account(ispcube))
    stored_before = {name: len(table(engine, name, "id")) for name in SNAPSHOTS}
    renamed = billing.customers[3]
    renamed["name"] = "CLIENTE RENOMBRADO"
    with_email = next(r for r in billing.customers if r["contact_emails"] and r is not renamed)
    with_email["contact_emails"] = [*with_email["contact_emails"], {"email": "nuevo@example.com"}]
    gone = billing.connections.pop(5)
    moved = billing.connections[6]
    moved["address"] = "Calle Nueva 1"
    billing.plans.append({"id": 99, "name": "FIBRA 1000", "speed": "1000", "comment": ""})
    billing.nodes[0]["comment"] = "NODO RENOMBRADO"

    run = sync_ispcube(engine, ispcube_account(ispcube))

    detail = {t.name: t.detail for t in run.report.targets}
    changes = {
        name: detail[stream][name] for stream, names in STREAM_TABLES.items() for name in names
    }

    def counts(table_name: str, **changed: int) -> dict[str, int]:
        moved_rows = changed.get("updated", 0) + changed.get("removed", 0)
        return {
            "inserted": changed.get("inserted", 0),
            "updated": changed.get("updated", 0),
            "unchanged": stored_before[table_name] - moved_rows,
            "removed": changed.get("removed", 0),
        }

    assert changes == {
        "plans": counts("plans", inserted=1),
        "nodes": counts("nodes", updated=1),
        # The customer given an email changed too: its raw record holds its emails.
        "customers": counts("customers", updated=2),
        "customer_emails": counts("customer_emails", inserted=1),
        "customer_phones": counts("customer_phones"),
        "connections": counts("connections", updated=1, removed=1),
    }
    assert run.report.counts.as_dict() == {
        "inserted": 2,
        "updated": 4,
        "unchanged": sum(stored_before.values()) - 5,
        "removed": 1,
    }
    assert table(engine, "plans", "plan_id")[99]["comment"] is None
    assert table(engine, "connections", "connection_id")[gone["id"]]["removed_at"] is not None
    assert table(engine, "customers", "customer_id")[renamed["id"]]["name"] == "CLIENTE RENOMBRADO"
    assert table(engine, "connections", "connection_id")[moved["id"]]["address"] == "Calle Nueva 1"


@pytest.mark.parametrize(
    ("mode", "options", "status"),
    [
        ("status", {"status": 500}, "api_error"),
        ("status", {"status": 502}, "api_error"),
        ("status", {"status": 504}, "api_error"),
        ("reset", {}, "unreachable"),
        ("truncated", {}, "api_error"),
        ("html_200", {}, "api_error"),
        ("hang", {}, "timeout"),
        ("trickle", {}, "timeout"),
        ("repeat_page", {}, "api_error"),
    ],
)
def test_a_failing_stream_keeps_its_stored_rows(
    engine, ispcube: ISPCubeLab, billing: Billing, mode: str, options: dict, status: str
):
    sync_ispcube(engine, ispcube_account(ispcube))
    before = table(engine, "customers", "customer_id")
    billing.customers[0]["name"] = "MUST NOT ARRIVE"
    billing.plans[0]["name"] = "ARRIVES"
    ispcube.fault("customers", mode, **options)

    run = sync_ispcube(engine, ispcube_account(ispcube))

    # A service that did not answer after the retries is not asked for the streams after it.
    unanswered = status in UNANSWERED
    assert statuses(run.report) == {
        "plans": "ok",
        "nodes": "ok",
        "customers": status,
        "connections": status if unanswered else "ok",
    }
    connections = {t.name: t for t in run.report.targets}["connections"]
    assert (connections.error or "").startswith("not called: ") == unanswered
    assert run.report.status == "partial"
    assert table(engine, "customers", "customer_id") == before
    assert table(engine, "plans", "plan_id")[billing.plans[0]["id"]]["name"] == "ARRIVES"


def test_an_endless_customer_listing_stops_at_max_customers(
    engine, ispcube: ISPCubeLab, billing: Billing
):
    sync_ispcube(engine, ispcube_account(ispcube))
    before = table(engine, "customers", "customer_id")
    ispcube.fault("customers", "endless")

    run = sync_ispcube(engine, ispcube_account(ispcube, page_size=25, max_customers=100))

    customers = {t.name: t for t in run.report.targets}["customers"]
    assert customers.status == "api_error"
    assert "raise [ispcube] max_customers" in (customers.error or "")
    assert customers.detail["requests"] == 100 // 25 + 1
    assert table(engine, "customers", "customer_id") == before


def test_a_passing_server_error_is_retried(engine, ispcube: ISPCubeLab):
    ispcube.fault("connections", "status", status=504, times=1)

    run = sync_ispcube(engine, ispcube_account(ispcube))

    connections = {t.name: t for t in run.report.targets}["connections"]
    assert connections.status == "ok"
    assert (connections.attempts, connections.detail["retries"]) == (2, 1)
    assert connections.detail["requests"] == 2


def test_wrong_credentials_fail_every_stream(engine, ispcube: ISPCubeLab):
    run = sync_ispcube(engine, ispcube_account(ispcube, password="wrong"))

    assert set(statuses(run.report).values()) == {"auth_failed"}
    assert run.report.status == "failed"
    assert all("wrong" not in (t.error or "") for t in run.report.targets)


def test_streams_a_refused_login_left_uncalled_sent_nothing(engine, ispcube: ISPCubeLab):
    """Every stream's detail has the same keys, whether or not the source was asked."""
    run = sync_ispcube(engine, ispcube_account(ispcube, password="wrong"))

    assert {t.name: (t.status, t.attempts, t.detail) for t in run.report.targets} == {
        "plans": ("auth_failed", 1, {"requests": 1, "retries": 0}),
        "nodes": ("auth_failed", 0, {"requests": 0, "retries": 0}),
        "customers": ("auth_failed", 0, {"requests": 0, "retries": 0}),
        "connections": ("auth_failed", 0, {"requests": 0, "retries": 0}),
    }


@pytest.mark.parametrize(
    ("mode", "options", "status"),
    [("status", {"status": 503}, "api_error"), ("hang", {}, "timeout")],
)
def test_a_login_that_fails_stops_the_run_after_its_retries(
    engine, ispcube: ISPCubeLab, mode: str, options: dict, status: str
):
    """Each stream would otherwise log in again and wait out the same retries."""
    sync_ispcube(engine, ispcube_account(ispcube))
    before = table(engine, "customers", "customer_id")
    ispcube.fault("token", mode, **options)
    ispcube.reset_counts()

    run = sync_ispcube(engine, ispcube_account(ispcube, retries=2))

    assert statuses(run.report) == dict.fromkeys(
        ("plans", "nodes", "customers", "connections"), status
    )
    assert ispcube.request_count("token") == 3
    assert sum(ispcube.requests.values()) == 3
    errors = [t.error for t in run.report.targets]
    assert "/sanctum/token" in errors[0]
    assert errors[1:] == [f"not called: {errors[0]}"] * 3
    assert table(engine, "customers", "customer_id") == before


def test_a_403_fails_its_stream_once_and_lets_the_others_run(
    engine, ispcube: ISPCubeLab, billing: Billing
):
    """A 403 is the API user's permission: no new login, no retry, one clear line."""
    sync_ispcube(engine, ispcube_account(ispcube))
    before = table(engine, "customers", "customer_id")
    billing.customers[0]["name"] = "MUST NOT ARRIVE"
    ispcube.fault("customers", "status", status=403)
    ispcube.reset_counts()

    run = sync_ispcube(engine, ispcube_account(ispcube, retries=2))

    assert statuses(run.report) == {
        "plans": "ok",
        "nodes": "ok",
        "customers": "auth_failed",
        "connections": "ok",
    }
    customers = {t.name: t for t in run.report.targets}["customers"]
    assert customers.error == (
        f"ISPCube refused /customers/customers_list to API user {USER!r} (403): the user "
        "lacks permission for it; grant it in ISPCube or set EMERALD_ISPCUBE_USER to a user "
        "that has it"
    )
    assert (customers.detail["requests"], customers.detail["retries"]) == (1, 0)
    assert (ispcube.request_count("customers"), ispcube.request_count("token")) == (1, 1)
    assert table(engine, "customers", "customer_id") == before


def test_a_login_without_a_token_stops_the_run(engine, ispcube: ISPCubeLab):
    ispcube.fault("token", "html_200")

    run = sync_ispcube(engine, ispcube_account(ispcube))

    assert set(statuses(run.report).values()) == {"api_error"}
    assert ispcube.request_count("token") == 1


def test_token_expiring_mid_run_costs_one_login(engine, ispcube: ISPCubeLab, billing: Billing):
    ispcube.expire_token_after = 3

    run = sync_ispcube(engine, ispcube_account(ispcube, page_size=50))

    assert run.report.status == "ok"
    # The first token serves plans, nodes and the first page of customers (50 of 62); the
    # second page is refused, and asked again after a second login, which serves the rest.
    # The refused page, sent again, is the customers' one retry: a second attempt.
    calls = {
        t.name: (t.detail["requests"], t.detail["retries"], t.attempts) for t in run.report.targets
    }
    assert calls == {
        "plans": (2, 0, 1),
        "nodes": (1, 0, 1),
        "customers": (4, 1, 2),
        "connections": (1, 0, 1),
    }
    assert ispcube.tokens_issued == ispcube.request_count("token") == 2
    assert {name: ispcube.request_count(name) for name in ispcube.paths} == {
        "token": 2,
        "customers": 3,
        "connections": 1,
        "plans": 1,
        "nodes": 1,
    }
    assert sorted(table(engine, "customers", "customer_id")) == sorted(
        row["id"] for row in billing.customers
    )


def test_requests_per_run_are_recorded(engine, ispcube: ISPCubeLab, billing: Billing):
    run = sync_ispcube(engine, ispcube_account(ispcube, page_size=25))

    requests = {t.name: t.detail["requests"] for t in run.report.targets}
    # One login (made by the first stream), one call per listing, customers page by page
    # until a page shorter than the one before: 25 + 25 + 12.
    assert len(billing.customers) == 62
    assert requests == {"plans": 2, "nodes": 1, "customers": 3, "connections": 1}


def test_an_hourly_sync_of_a_3000_connection_tenant_keeps_within_ispcubes_allowance(engine):
    """ISPCube allows about 2.5 requests per active connection a month. The worst realistic
    tenant has a customer per connection; synced hourly, it runs 720 times a month."""
    base = len(build_billing(build_fleet(seed=11, routers=3, secrets=20)).connections)
    billing = build_billing(
        build_fleet(seed=11, routers=3, secrets=20), customers=3000, extra_connections=3000 - base
    )
    with ISPCubeLab(billing, API_KEY, CLIENT_ID, USER, PASSWORD) as lab:
        run = sync_ispcube(engine, ispcube_account(lab, timeout=30.0))

    assert run.report.status == "ok"
    assert (len(billing.customers), len(billing.connections)) == (3000, 3000)
    requests = {t.name: t.detail["requests"] for t in run.report.targets}
    # The login (made by the first stream) and one call per listing; at the default page size
    # three whole pages of 1,000 customers, then the empty page that proves the end.
    assert requests == {"plans": 2, "nodes": 1, "customers": 4, "connections": 1}
    assert sum(lab.requests.values()) == sum(requests.values()) == 8
    per_connection = sum(requests.values()) * HOURLY_RUNS_A_MONTH / len(billing.connections)
    assert per_connection == 1.92
    assert per_connection <= ISPCUBE_MONTHLY_REQUESTS_PER_CONNECTION


def by_position(engine: sa.Engine, name: str) -> dict[tuple[int, ...], dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(schema.metadata.tables[name])).mappings().all()
    return {tuple(row[part] for part in POSITION): dict(row) for row in rows}


def position_of(raw: dict[str, Any]) -> tuple[int, ...]:
    return tuple(int(raw[part]) for part in POSITION)


def repeated_ids(billing: Billing) -> set[str]:
    ids = [onu["unique_external_id"] for onu in billing.onus]
    return {external_id for external_id in ids if ids.count(external_id) > 1}


def test_smartolt_streams_and_signal_history(engine, smartolt: SmartOLTLab, billing: Billing):
    first = sync_smartolt(engine, smartolt_account(smartolt))
    second = sync_smartolt(engine, smartolt_account(smartolt))

    assert first.report.status == second.report.status == "ok"
    onus = by_position(engine, "onus")
    raw = billing.onus[0]
    stored = onus[(1, 0, 0, 0)]
    assert stored["unique_external_id"] == raw["unique_external_id"]
    assert stored["signal_1490"] == Decimal(raw["signal_1490"].removesuffix(" dBm"))
    signals = by_position(engine, "onu_signals")
    assert len(signals) == len(onus) == len(billing.onus)
    unknown = [row for row in billing.onus if row["signal_1490"] in ("-", "", None)]
    assert unknown
    for row in unknown:
        assert signals[position_of(row)]["signal_1490"] is None
    with engine.connect() as conn:
        readings = conn.execute(
            sa.select(*(schema.onu_signal_readings.c[part] for part in POSITION))
        ).all()
    assert sorted(readings) == sorted([*signals, *signals])


def test_onus_sharing_an_external_id_keep_a_status_and_a_signal_each(
    engine, smartolt: SmartOLTLab, billing: Billing
):
    [shared] = repeated_ids(billing)
    old, new = [onu for onu in billing.onus if onu["unique_external_id"] == shared]
    assert old["status"] != new["status"]

    sync_smartolt(engine, smartolt_account(smartolt))

    stored = by_position(engine, "onu_statuses")
    signals = by_position(engine, "onu_signals")
    for onu in (old, new):
        assert stored[position_of(onu)]["unique_external_id"] == shared
        assert stored[position_of(onu)]["status"] == onu["status"]
        assert signals[position_of(onu)]["sn"] == onu["sn"]
    assert signals[position_of(old)]["signal_1490"] is None
    assert signals[position_of(new)]["signal_1490"] is not None


def test_signal_rows_without_a_position_are_placed_by_their_onu(engine, billing: Billing):
    """SmartOLT documents only the id and the levels in a signal row; the ONU listing tells
    where each id is, except for an id two ONUs share, which is reported, not guessed."""
    [shared] = repeated_ids(billing)

    with SmartOLTLab(billing, TOKEN, signal_positions=False) as lab:
        run = sync_smartolt(engine, smartolt_account(lab))

    signals = by_position(engine, "onu_signals")
    placed = [onu for onu in billing.onus if onu["unique_external_id"] != shared]
    assert sorted(signals) == sorted(position_of(onu) for onu in placed)
    for onu in placed:
        assert signals[position_of(onu)]["unique_external_id"] == onu["unique_external_id"]
    target = {t.name: t for t in run.report.targets}["onu_signals"]
    assert target.status == "ok"
    assert target.detail["skipped"] == 2
    assert target.detail["skipped_examples"][0] == (
        f"onu_signals row for {shared} has no PON position and 2 ONUs carry that"
        " unique_external_id"
    )


@pytest.mark.parametrize("style", ["429", "403", "200"])
def test_rate_limit_stops_calling_and_keeps_data(engine, billing: Billing, style: str):
    with SmartOLTLab(billing, TOKEN, rate_limit_style=style) as lab:
        sync_smartolt(engine, smartolt_account(lab))
        before = by_position(engine, "onus")
        with SmartOLTLab(billing, TOKEN, rate_limit_style=style, hourly_budget=2) as tight:
            billing.onus[0]["name"] = "MUST NOT ARRIVE"
            run = sync_smartolt(engine, smartolt_account(tight, page_size=10))
            calls_after_limit = tight.rate_limited_answers

    assert statuses(run.report)["olts"] == "ok"
    assert statuses(run.report)["onus"] == "rate_limited"
    assert statuses(run.report)["onu_statuses"] == "rate_limited"
    assert statuses(run.report)["onu_signals"] == "rate_limited"
    assert calls_after_limit == 1
    targets = {t.name: t for t in run.report.targets}
    limited = targets["onus"]
    assert limited.retry_after is not None
    assert (limited.error or "").startswith("SmartOLT rate limit reached for get_all_onus_details")
    for later in ("onu_statuses", "onu_signals"):
        assert (targets[later].error or "").startswith(
            "not called: the rate limit of get_all_onus_details was reached; try again after"
        )
    assert by_position(engine, "onus") == before


def readings_count(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        query = sa.select(sa.func.count()).select_from(schema.onu_signal_readings)
        return conn.execute(query).scalar_one()


def unique_onus(billing: Billing) -> list[dict[str, Any]]:
    shared = repeated_ids(billing)
    return [onu for onu in billing.onus if onu["unique_external_id"] not in shared]


@pytest.mark.parametrize(
    ("endpoint", "mode", "options", "status"),
    [
        ("onus", "status", {"status": 500}, "api_error"),
        ("onus", "status", {"status": 502}, "api_error"),
        ("onus", "status", {"status": 504}, "api_error"),
        ("onus", "truncated", {}, "api_error"),
        ("onus", "html_200", {}, "api_error"),
        ("onus", "hang", {}, "timeout"),
        ("onus", "trickle", {}, "timeout"),
        ("onus", "reset", {}, "unreachable"),
        ("signals", "hang", {}, "timeout"),
        ("signals", "truncated", {}, "api_error"),
    ],
)
def test_a_failing_smartolt_stream_keeps_its_stored_rows(
    engine, smartolt: SmartOLTLab, billing: Billing, endpoint, mode, options, status
):
    sync_smartolt(engine, smartolt_account(smartolt))
    before = {name: by_position(engine, name) for name in ("onus", "onu_signals")}
    readings = readings_count(engine)
    onu = unique_onus(billing)[0]
    onu.update(name="RENAMED", signal_1490="-26.50 dBm")
    smartolt.fault(endpoint, mode, **options)

    run = sync_smartolt(engine, smartolt_account(smartolt))

    failed = {"onus": "onus", "signals": "onu_signals"}[endpoint]
    expected = {"olts": "ok", "onus": "ok", "onu_statuses": "ok", "onu_signals": "ok"}
    names = list(expected)
    # A service that did not answer after the retries is not asked for the streams after it.
    after = names[names.index(failed) + 1 :] if status in UNANSWERED else []
    assert statuses(run.report) == {**expected, failed: status, **dict.fromkeys(after, status)}
    assert run.report.status == "partial"
    assert by_position(engine, failed) == before[failed]
    if after:
        assert by_position(engine, "onu_signals") == before["onu_signals"]
        assert readings_count(engine) == readings
    elif failed == "onus":
        assert by_position(engine, "onu_signals")[position_of(onu)]["signal_1490"] == Decimal(
            "-26.50"
        )
        assert readings_count(engine) == 2 * readings
    else:
        assert by_position(engine, "onus")[position_of(onu)]["name"] == "RENAMED"
        assert readings_count(engine) == readings


def test_a_smartolt_that_does_not_answer_is_waited_out_once_per_run(engine, smartolt: SmartOLTLab):
    """Not once per stream: four streams each waiting out their retries would hold the run
    and its lock four times as long."""
    sync_smartolt(engine, smartolt_account(smartolt))
    before = by_position(engine, "onus")
    for endpoint in ("olts", "onus", "statuses", "signals"):
        smartolt.fault(endpoint, "hang")
    smartolt.reset_counts()

    run = sync_smartolt(engine, smartolt_account(smartolt, retries=1))

    assert set(statuses(run.report).values()) == {"timeout"}
    assert [t.name for t in run.report.targets if (t.error or "").startswith("not called")] == [
        "onus",
        "onu_statuses",
        "onu_signals",
    ]
    assert sum(smartolt.requests.values()) == 2
    assert by_position(engine, "onus") == before


def test_wrong_smartolt_token_fails_every_stream_and_keeps_the_data(engine, smartolt: SmartOLTLab):
    sync_smartolt(engine, smartolt_account(smartolt))
    before = by_position(engine, "onus")
    smartolt.reset_counts()

    run = sync_smartolt(engine, smartolt_account(smartolt, token="not-the-token"))

    assert set(statuses(run.report).values()) == {"auth_failed"}
    assert run.report.status == "failed"
    assert sum(smartolt.requests.values()) == 1
    assert all("not-the-token" not in (t.error or "") for t in run.report.targets)
    assert by_position(engine, "onus") == before


def test_second_smartolt_run_reports_exactly_the_changes(
    engine, smartolt: SmartOLTLab, billing: Billing
):
    sync_smartolt(engine, smartolt_account(smartolt))
    went_down, weaker, gone = unique_onus(billing)[2:5]
    went_down["status"] = "Offline" if went_down["status"] != "Offline" else "Online"
    weaker["signal_1490"] = "-26.95 dBm"
    billing.onus.remove(gone)

    run = sync_smartolt(engine, smartolt_account(smartolt))

    detail = {t.name: t.detail for t in run.report.targets}
    listed = len(billing.onus)
    assert detail["onus"]["onus"] == {
        "inserted": 0,
        "updated": 2,
        "unchanged": listed - 2,
        "removed": 1,
    }
    assert detail["onu_statuses"]["onu_statuses"] == {
        "inserted": 0,
        "updated": 1,
        "unchanged": listed - 1,
        "removed": 1,
    }
    assert detail["onu_signals"]["onu_signals"] == {
        "inserted": 0,
        "updated": 1,
        "unchanged": listed - 1,
        "removed": 1,
    }
    assert detail["onu_signals"]["onu_signal_readings"] == {"appended": listed}
    assert by_position(engine, "onus")[position_of(gone)]["removed_at"] is not None


def test_volume_tenant_syncs_whole(engine):
    """The lab's volume world: 20,000 customers and 50,000 connections, every row stored."""
    fleet = build_fleet(seed=5, routers=2, secrets=50)
    billing = build_billing(fleet, customers=20_000, extra_connections=50_000 - 100)
    with ISPCubeLab(billing, API_KEY, CLIENT_ID, USER, PASSWORD) as lab:
        run = sync_ispcube(engine, ispcube_account(lab, page_size=1000, timeout=30.0))

    assert run.report.status == "ok"
    detail = {t.name: t.detail for t in run.report.targets}
    assert detail["customers"]["customers"]["inserted"] == 20_000
    assert len(billing.connections) >= 50_000
    assert detail["connections"]["connections"]["inserted"] == len(billing.connections)
    assert detail["customers"]["requests"] == 21
