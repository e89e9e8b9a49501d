"""SmartOLT normalisers against the recorded samples, with exact expected records."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from emerald_cli.sources import values
from emerald_cli.sources.smartolt import records
from emerald_cli.sources.smartolt.records import Olt, OnuSignal, ServicePort

# Recorded API bodies (invented values, real field names), kept beside the tests.
SAMPLES = Path(__file__).resolve().parent / "samples"
BUENOS_AIRES = ZoneInfo("America/Argentina/Buenos_Aires")


def sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


def test_onus_are_typed_exactly() -> None:
    raw = sample("smartolt-onus.json")["onus"]

    result = records.onus(raw)

    first, los, bridge, power_fail = result.records
    assert (first.unique_external_id, first.olt_id, first.board, first.port, first.onu) == (
        "HWTC0000A001",
        1,
        0,
        1,
        3,
    )
    assert (first.name, first.username, first.vlan, first.zone_id) == (
        "pp-0001",
        "pp-0001",
        100,
        2,
    )
    assert (first.signal, first.signal_1310, first.signal_1490) == (
        "Very good",
        Decimal("-23.10"),
        Decimal("-19.45"),
    )
    assert first.authorization_date == datetime(2023, 3, 2, 10, 15, tzinfo=BUENOS_AIRES)
    assert first.last_status_change == datetime(2024, 6, 1, 8, 0, 10, tzinfo=BUENOS_AIRES)
    assert first.service_ports == (ServicePort(101, 100, "100M", "100M"),)
    assert (first.contact, first.latitude, first.odb_port) == (None, None, "4")
    assert (los.status, los.signal, los.signal_1310, los.signal_1490) == ("LOS", None, None, None)
    assert (bridge.mode, bridge.username, bridge.latitude, bridge.longitude) == (
        "Bridging",
        None,
        Decimal("-34.590000"),
        Decimal("-58.410000"),
    )
    assert (power_fail.name, power_fail.administrative_status, power_fail.signal_1490) == (
        "10045",
        "Disabled",
        Decimal("-29.90"),
    )
    assert power_fail.service_ports == ()
    assert result.skipped == []


def test_a_dash_or_blank_in_an_onu_text_field_is_no_value() -> None:
    """SmartOLT writes "-" where a field is empty; the raw record keeps what it sent."""
    [raw] = sample("smartolt-onus.json")["onus"][:1]
    raw.update(contact="-", address="  ", odb_name=" - ", zone_name="Zona -", name="pp-0001")

    [onu] = records.onus([raw]).records

    assert (onu.contact, onu.address, onu.odb_name) == (None, None, None)
    assert (onu.zone_name, onu.name) == ("Zona -", "pp-0001")
    assert (onu.raw["contact"], onu.raw["odb_name"]) == ("-", " - ")


def test_the_onu_pppoe_password_is_not_kept() -> None:
    raw = sample("smartolt-onus.json")["onus"]

    result = records.onus(raw)

    assert [onu.raw["password"] for onu in result.records] == [
        "<redacted>",
        "<redacted>",
        None,
        "<redacted>",
    ]
    assert "invented-secret-1" not in repr(result.records[0])
    assert raw[0]["password"] == "invented-secret-1"


def test_signals_keep_unknown_as_none() -> None:
    raw = sample("smartolt-signals.json")["GET /onu/get_onus_signals"]["response"]

    result = records.signals(raw)

    assert result.records == [
        OnuSignal(
            "HWTC0000A001",
            "HWTC0000A001",
            1,
            0,
            1,
            3,
            "Very good",
            Decimal("-23.10"),
            Decimal("-19.45"),
            raw=raw[0],
        ),
        OnuSignal("HWTC0000A002", "HWTC0000A002", 1, 0, 1, 4, None, None, None, raw=raw[1]),
        OnuSignal(
            "ZTEG0000B003",
            "ZTEG0000B003",
            2,
            1,
            7,
            12,
            "Warning",
            Decimal("-30.46"),
            Decimal("-28.10"),
            raw=raw[2],
        ),
        OnuSignal(
            "ZTEG0000B004",
            "ZTEG0000B004",
            2,
            1,
            7,
            13,
            "Critical",
            Decimal("-32.80"),
            Decimal("-29.90"),
            raw=raw[3],
        ),
    ]


def test_a_signal_row_without_a_position_is_kept_with_none() -> None:
    raw = [{"unique_external_id": "HWTC0000A001", "signal_1490": "-19.45 dBm"}]

    result = records.signals(raw)

    assert result.skipped == []
    [signal] = result.records
    assert (signal.olt_id, signal.board, signal.port, signal.onu) == (None, None, None, None)
    assert signal.signal_1490 == Decimal("-19.45")


def test_statuses() -> None:
    raw = sample("smartolt-signals.json")["GET /onu/get_onus_statuses"]["response"]

    result = records.statuses(raw)

    assert [(s.name, s.status, s.olt_id, s.onu) for s in result.records] == [
        ("pp-0001", "Online", 1, 3),
        ("pp-0002", "LOS", 1, 4),
        ("CLIENTE 7 BRIDGE", "Online", 2, 12),
        ("10045", "Power fail", 2, 13),
    ]
    assert result.records[1].last_status_change == datetime(
        2024, 6, 9, 22, 41, 5, tzinfo=BUENOS_AIRES
    )


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("-23.10 dBm", Decimal("-23.10")),
        ("-24.0", Decimal("-24.0")),
        ("-19.45dBm", Decimal("-19.45")),
        (-21.5, Decimal("-21.5")),
        ("-", None),
        ("", None),
        (None, None),
    ],
)
def test_signal_values(wire: object, expected: Decimal | None) -> None:
    assert values.signal(wire) == expected


@pytest.mark.parametrize("wire", ["-2310 dBm", "100000", "abc dBm"])
def test_a_level_no_optical_signal_has_is_refused(wire: str) -> None:
    with pytest.raises(ValueError, match="not"):
        values.signal(wire)


def test_rows_without_any_key_are_skipped() -> None:
    result = records.signals([{"unique_external_id": "", "sn": None, "signal": "Warning"}])

    assert (result.records, [s.reason for s in result.skipped]) == (
        [],
        ["row without unique_external_id"],
    )


def test_olts_every_scalar_a_string() -> None:
    raw = [
        {
            "id": "1",
            "name": "OLT-CENTRO",
            "olt_hardware_version": "MA5800-X7",
            "ip": "10.0.0.2",
            "telnet_port": "23",
            "snmp_port": "",
        }
    ]

    assert records.olts(raw).records == [
        Olt(1, "OLT-CENTRO", "MA5800-X7", "10.0.0.2", 23, None, raw=raw[0])
    ]
