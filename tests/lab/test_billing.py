"""The seeded SaaS world: every mismatch kind present, the wire quirks present, volume."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from emerald_cli.lab.billing import Finding, build_billing
from emerald_cli.lab.dataset import PROFILES, build_fleet, queue_limit

KINDS = ("M1", "M2", "M3", "M3b", "M4", "M5", "M6", "M7", "M7b", "M8", "M9", "M10")


def test_every_mismatch_kind_is_seeded_and_found() -> None:
    billing = build_billing(build_fleet(seed=7, routers=3, secrets=20))

    findings = billing.expected_findings()

    assert Counter(f.kind for f in findings) == {
        "M1": 2,
        "M2": 1,
        "M3": 1,
        "M3b": 1,
        "M4": 1,
        "M5": 1,
        "M6": 6,
        "M7": 11,
        "M7b": 2,
        "M8": 3,
        "M9": 12,
        "M10": 1,
    }
    assert set(KINDS) <= {kind for kind in billing.seeded if not kind.startswith("_")} | {
        "M4",
        "M6",
        "M9",
    }
    picked = {f.kind: f for f in findings if f.kind in ("M1", "M3", "M3b", "M4", "M10")}
    assert picked["M3"] == Finding(
        "M3", "pp-sin-secreto-001", "router-000", "no secret on any router"
    )
    assert picked["M3b"] == Finding("M3b", "pp-000-00017", "router-001", "secret on router-000")
    assert picked["M4"] == Finding("M4", "pp-000-00007", None, "router-000, router-001")
    assert picked["M10"] == Finding("M10", "router-gone", "router-gone", "127.0.0.1:1")
    assert Finding("M1", "pp-001-00001", "router-001", "customer is blocked") in findings
    slower = [f.detail.split(" vs ")[1].split(" ")[0] for f in findings if f.kind == "M8"]
    assert sorted(slower) == ["ONU", "profile", "queue"]
    assert Finding("M7b", "CLIENTE 7 BRIDGE", None, "ONU HWTC0000002E matches no connection") in (
        findings
    )


def test_speeds_agree_except_where_a_mismatch_is_seeded() -> None:
    billing = build_billing(build_fleet(seed=7, routers=3, secrets=20))
    seeded = set(billing.seeded["M8"])
    rates = {profile[0]: profile[3] for profile in PROFILES}
    plan_speed = {plan["id"]: plan["speed"] for plan in billing.plans}
    plan_of_user = {row["user"]: row["plan_id"] for row in billing.connections}

    queues = 0
    for router in billing.fleet.routers:
        profile_of = {secret["name"]: secret["profile"] for secret in router.secrets}
        for queue in router.queues:
            user = queue["name"].removeprefix("<pppoe-").removesuffix(">")
            queues += 1
            if user not in seeded:
                assert queue["max-limit"] == queue_limit(rates[profile_of[user]])
    onus = 0
    for onu in billing.onus:
        plan_id = plan_of_user.get(onu["name"])
        if plan_id is not None and onu["name"] not in seeded:
            onus += 1
            speeds = {port["download_speed"] for port in onu["service_ports"]}
            assert speeds == {f"{plan_speed[plan_id]}M"}

    assert queues > 5 and onus > 20
    assert queue_limit("100M/100M 120M/120M 80M/80M 16/16") == "100000000/100000000"
    assert queue_limit("128k/128k") == "128000/128000"


def test_the_same_seed_gives_the_same_world() -> None:
    first = build_billing(build_fleet(seed=7, routers=3, secrets=20))
    second = build_billing(build_fleet(seed=7, routers=3, secrets=20))

    assert (first.customers, first.connections, first.onus) == (
        second.customers,
        second.connections,
        second.onus,
    )


def test_findings_follow_live_changes(tmp_path: Path) -> None:
    billing = build_billing(build_fleet(seed=7, routers=3, secrets=20))
    for customer in billing.customers:
        if customer["status"] == "blocked":
            customer["status"] = "enabled"

    billing.write_findings(tmp_path / "findings.json")

    written = json.loads((tmp_path / "findings.json").read_text())
    assert [row for row in written if row["kind"] == "M1"] == [
        {
            "kind": "M1",
            "subject": "pp-000-00015",
            "router": "router-000",
            "detail": "customer is no_service",
        }
    ]
    assert list(written[0]) == ["kind", "subject", "router", "detail"]


def test_the_wire_quirks_are_present() -> None:
    billing = build_billing(build_fleet(seed=7, routers=3, secrets=20))
    customers, onus = billing.customers, billing.onu_details()

    assert {c["lat"] for c in customers} >= {"0.000000000000", None}
    assert {type(c["first_expiration_date"]) for c in customers} == {int, type(None)}
    assert {c["extra1"] for c in customers} == {"", None}
    assert customers[0]["start_date"] == "2021-01-01 00:00:00"
    assert customers[0]["created_at"] == "2021-01-01T03:00:00.000000Z"
    assert any("\x00" in c["name"] for c in customers)
    assert {c["status"] for c in customers} == {"enabled", "no_service", "blocked"}
    assert any(c["user"] == "" for c in billing.connections)
    assert {"10045", "00123", "0000"} <= {c["user"] for c in billing.connections}
    users = Counter(c["user"] for c in billing.connections)
    assert users.most_common(1) == [("pp-001-00010", 2)]  # one user billed twice
    names = Counter(onu["name"] for onu in onus)
    assert max(names.values()) == 2
    assert any(name.endswith(" ") for name in names)
    assert any(name.startswith("PP-") for name in names)
    assert Counter(onu["unique_external_id"] for onu in onus).most_common(1)[0][1] == 2
    assert {"-", "Very good", "Warning", "Critical"} <= {onu["signal"] for onu in onus}
    assert any(onu["signal_1490"].endswith(" dBm") for onu in onus)
    assert any(onu["mode"] == "Bridging" and onu["username"] is None for onu in onus)
    scalars = [v for onu in onus for v in onu.values() if not isinstance(v, list)]
    assert {type(v) for v in scalars} == {str, type(None)}
    assert [node["port"] for node in billing.nodes[-2:]] == ["8728", 1]
    assert billing.nodes[-2]["ip"] is None


@pytest.mark.slow
def test_twenty_thousand_customers_and_fifty_thousand_connections_build() -> None:
    fleet = build_fleet(seed=7, routers=3, secrets=20)
    base = len(build_billing(build_fleet(seed=7, routers=3, secrets=20)).connections)

    billing = build_billing(fleet, customers=20_000, extra_connections=50_000 - base)

    assert (len(billing.customers), len(billing.connections)) == (20_000, 50_000)
    assert {f.kind for f in billing.expected_findings()} == set(KINDS)


def test_every_onu_has_a_pon_position_of_its_own() -> None:
    # The size `emerald lab serve --routers 20 --secrets 500` builds: past one board's worth.
    billing = build_billing(build_fleet(seed=7, routers=20, secrets=500))

    positions = Counter((o["olt_id"], o["board"], o["port"], o["onu"]) for o in billing.onus)

    assert len(billing.onus) > 4096
    assert positions.most_common(1)[0][1] == 1
