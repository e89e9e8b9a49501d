"""ISPCube normalisers against the recorded samples, with exact expected records."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from emerald_cli.sources.ispcube import records
from emerald_cli.sources.ispcube.records import (
    Connection,
    CustomerEmail,
    CustomerPhone,
    Plan,
    RouterCandidate,
)

# Recorded API bodies (invented values, real field names), kept beside the tests.
SAMPLES = Path(__file__).resolve().parent / "samples"
BUENOS_AIRES = ZoneInfo("America/Argentina/Buenos_Aires")


def sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


def test_customers_are_typed_exactly() -> None:
    raw = sample("ispcube-customers-page.json")

    result = records.customers(raw)

    first, second = result.customers
    assert (first.id, first.code, first.name, first.status) == (
        1001,
        "000101",
        "CLIENTE DE PRUEBA UNO",
        "enabled",
    )
    assert (first.lat, first.lng) == (Decimal("-34.600000000000"), Decimal("-58.400000000000"))
    assert (first.debt, first.block, first.free, first.temporary) == (
        Decimal("0.00"),
        True,
        False,
        False,
    )
    assert (first.extra1, first.extra2, first.city_id, first.city_name) == (
        None,
        None,
        1,
        "Localidad Ejemplo",
    )
    assert first.start_date == datetime(2023, 3, 1, tzinfo=BUENOS_AIRES)
    assert first.created_at == datetime(2023, 3, 1, 13, 10, tzinfo=UTC)
    assert first.updated_at == datetime(2024, 5, 2, 18, 45, 12, tzinfo=UTC)
    assert first.deleted_at is None
    assert first.raw is raw[0]

    assert (second.doc_number, second.status, second.lat, second.lng) == (
        "20-20000002-7",
        "no_service",
        None,
        None,
    )
    assert (second.debt, second.duedebt) == (Decimal("15400.00"), Decimal("7700.00"))
    # Local midnight in Buenos Aires is 03:00 UTC: both date formats agree.
    assert second.start_date == second.created_at
    assert result.emails == [
        CustomerEmail(1001, "cliente1@example.com", raw[0]["contact_emails"][0])
    ]
    assert result.phones == [
        CustomerPhone(1001, "0000000001", raw[0]["phones"][0]),
        CustomerPhone(1002, "0000000002", raw[1]["phones"][0]),
    ]
    assert result.skipped == []


def test_the_account_zone_is_configurable() -> None:
    raw = sample("ispcube-customers-page.json")

    customer = records.customers(raw, zone="UTC").customers[0]

    assert customer.start_date == datetime(2023, 3, 1, tzinfo=UTC)


def test_nul_characters_garbage_and_missing_ids() -> None:
    raw = [
        {"id": "7", "name": "CLIENTE\x00 NUL", "lat": "abc", "start_date": "not a date"},
        {"id": "", "name": "sin id"},
        {"name": "tampoco"},
    ]

    result = records.customers(raw)

    (customer,) = result.customers
    assert (customer.id, customer.name, customer.lat, customer.start_date) == (
        7,
        "CLIENTE NUL",
        None,
        None,
    )
    assert [skipped.reason for skipped in result.skipped] == [
        "customer without a usable id",
        "customer without a usable id",
    ]


def test_values_no_column_could_hold_are_unreadable_fields() -> None:
    """A typo of fifteen digits must not fail the whole customers stream when it is written."""
    raw = [{"id": "8", "debt": "123456789012345.00", "duedebt": "999999999999.99", "lat": "-345"}]

    (customer,) = records.customers(raw).customers

    assert (customer.debt, customer.duedebt, customer.lat) == (
        None,
        Decimal("999999999999.99"),
        None,
    )


def test_connections_keep_users_as_text_and_empty_as_none() -> None:
    result = records.connections(sample("ispcube-connections.json"))

    assert result.records == [
        Connection(
            5001, 1001, "pp-0001", 3, 12, "Calle Falsa 100", "pppoe", raw=result.records[0].raw
        ),
        Connection(
            5002,
            1002,
            "pp-0002",
            3,
            10,
            "Avenida Siempreviva 742",
            "pppoe",
            raw=result.records[1].raw,
        ),
        Connection(5003, 1001, "10045", 4, 12, None, "pppoe", raw=result.records[2].raw),
        Connection(5004, 1002, None, None, None, None, "pppoe", raw=result.records[3].raw),
    ]


def test_numeric_users_from_json_numbers_stay_text() -> None:
    result = records.connections([{"id": 1, "user": 10045, "customer_id": "3"}])

    assert (result.records[0].user, result.records[0].customer_id) == ("10045", 3)


def test_plans() -> None:
    raw = sample("ispcube-plans-nodes.json")["GET /plans/plans_list"]

    result = records.plans(raw)

    assert result.records == [
        Plan(10, "FIBRA 50", "50", "Plan residencial", raw=raw[0]),
        Plan(12, "FIBRA 100", "100", None, raw=raw[1]),
    ]


NODES_MISSING_PARTS = [
    {"id": 6, "comment": "NODO RARO", "ip": " 192.0.2.30 ", "port": "None"},
    {"id": 7, "comment": "NODO TEXTO", "ip": "192.0.2.40", "port": "8799"},
    {"id": 8, "comment": "NODO BLANCO", "ip": "  ", "port": None},
    {"id": "", "comment": "NODO SIN ID", "ip": "192.0.2.50", "port": 8728},
]


def test_every_node_is_kept_and_one_without_ip_or_port_is_reported() -> None:
    raw = [*sample("ispcube-plans-nodes.json")["GET /nodes/nodes_list"], *NODES_MISSING_PARTS]

    result = records.router_candidates(raw)

    assert result.records == [
        RouterCandidate(3, "NODO CENTRO", "192.0.2.10", 8728, False, raw=raw[0]),
        RouterCandidate(4, "NODO NORTE", "192.0.2.20", None, False, raw=raw[1]),
        RouterCandidate(5, "NODO SIN IP", None, 8728, False, raw=raw[2]),
        RouterCandidate(6, "NODO RARO", "192.0.2.30", None, False, raw=raw[3]),
        RouterCandidate(7, "NODO TEXTO", "192.0.2.40", 8799, False, raw=raw[4]),
        RouterCandidate(8, "NODO BLANCO", None, None, False, raw=raw[5]),
    ]
    assert [node.pollable for node in result.records] == [True, False, False, False, True, False]
    to_config = "port under [defaults] in the config file"
    assert [(s.stream, s.reason, s.raw) for s in result.skipped] == [
        (
            "nodes",
            f"node 4 (NODO NORTE) has no port: set the node's port in ISPCube, or {to_config}",
            raw[1],
        ),
        ("nodes", "node 5 (NODO SIN IP) has no IP: set it in ISPCube", raw[2]),
        (
            "nodes",
            "node 6 (NODO RARO) has no usable port ('None'): set the node's port in ISPCube, "
            f"or {to_config}",
            raw[3],
        ),
        (
            "nodes",
            "node 8 (NODO BLANCO) has no IP and no port: set both in ISPCube "
            f"(or the port as {to_config})",
            raw[5],
        ),
        ("nodes", "node without a usable id", raw[6]),
    ]


def test_a_node_without_a_port_gets_the_default_port_when_one_is_given() -> None:
    raw = [*sample("ispcube-plans-nodes.json")["GET /nodes/nodes_list"], *NODES_MISSING_PARTS]

    result = records.router_candidates(raw, default_port=18728)

    assert result.records == [
        RouterCandidate(3, "NODO CENTRO", "192.0.2.10", 8728, False, raw=raw[0]),
        RouterCandidate(4, "NODO NORTE", "192.0.2.20", 18728, True, raw=raw[1]),
        RouterCandidate(5, "NODO SIN IP", None, 8728, False, raw=raw[2]),
        RouterCandidate(6, "NODO RARO", "192.0.2.30", 18728, True, raw=raw[3]),
        RouterCandidate(7, "NODO TEXTO", "192.0.2.40", 8799, False, raw=raw[4]),
        RouterCandidate(8, "NODO BLANCO", None, 18728, True, raw=raw[5]),
    ]
    assert [(s.reason, s.raw) for s in result.skipped] == [
        ("node 5 (NODO SIN IP) has no IP: set it in ISPCube", raw[2]),
        ("node 8 (NODO BLANCO) has no IP: set it in ISPCube", raw[5]),
        ("node without a usable id", raw[6]),
    ]
