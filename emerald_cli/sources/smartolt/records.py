"""SmartOLT's raw JSON, where every scalar is text, turned into typed records for the store.

Pure functions. Signals keep "unknown" as None, never 0 dBm, and SmartOLT times are read in the
account's zone. The PPPoE password an ONU carries is the one raw value not kept.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from decimal import Decimal
from typing import Any

from emerald_cli.sources import values
from emerald_cli.sources.streams import Normalised, Raw, Skipped
from emerald_cli.sources.values import DEFAULT_ZONE, lenient

logger = logging.getLogger(__name__)

SECRET_FIELDS = ("password",)
REDACTED = "<redacted>"


@dataclass(slots=True)
class Olt:
    """Olt(id=1, name="OLT-CENTRO", hardware_version="MA5800-X7", ip="10.0.0.2",
    telnet_port=23, snmp_port=161)"""

    id: int
    name: str | None
    hardware_version: str | None
    ip: str | None
    telnet_port: int | None
    snmp_port: int | None
    raw: Raw = field(repr=False)


@dataclass(slots=True)
class ServicePort:
    """ServicePort(service_port=101, vlan=100, upload_speed="100M", download_speed="100M")"""

    service_port: int | None
    vlan: int | None
    upload_speed: str | None
    download_speed: str | None


@dataclass(slots=True)
class Onu:
    """An ONU with its inventory details; `name` is kept as typed (spaces, case) for display.

    Onu(unique_external_id="HWTC0000A001", sn="HWTC0000A001", olt_id=1, board=0, port=1, onu=3,
    name="pp-0001", username="pp-0001", status="Online", signal_1490=Decimal("-19.45"), ...)
    """

    unique_external_id: str | None
    sn: str | None
    olt_id: int | None
    olt_name: str | None
    board: int | None
    port: int | None
    onu: int | None
    onu_type_id: int | None
    onu_type_name: str | None
    zone_id: int | None
    zone_name: str | None
    name: str | None
    address: str | None
    contact: str | None
    latitude: Decimal | None
    longitude: Decimal | None
    odb_name: str | None
    odb_port: str | None
    mode: str | None
    wan_mode: str | None
    vlan: int | None
    username: str | None
    catv: str | None
    administrative_status: str | None
    authorization_date: datetime | None
    status: str | None
    last_status_change: datetime | None
    signal: str | None
    signal_1310: Decimal | None
    signal_1490: Decimal | None
    service_ports: tuple[ServicePort, ...]
    raw: Raw = field(repr=False)


@dataclass(slots=True)
class OnuStatus:
    """OnuStatus(unique_external_id="HWTC0000A002", sn="HWTC0000A002", name="pp-0002",
    status="LOS", last_status_change=datetime(2024, 6, 9, 22, 41, 5, tzinfo=<Buenos Aires>))"""

    unique_external_id: str | None
    sn: str | None
    olt_id: int | None
    board: int | None
    port: int | None
    onu: int | None
    name: str | None
    status: str | None
    last_status_change: datetime | None
    raw: Raw = field(repr=False)


@dataclass(slots=True)
class OnuSignal:
    """Optical levels: 1490 nm is what the ONU receives, 1310 nm what the OLT receives.

    The PON position is optional here: SmartOLT documents only the id and the three levels.

    OnuSignal(unique_external_id="ZTEG0000B003", sn=None, olt_id=None, ..., signal="Warning",
    signal_1310=Decimal("-30.46"), signal_1490=Decimal("-28.10"))
    """

    unique_external_id: str | None
    sn: str | None
    olt_id: int | None
    board: int | None
    port: int | None
    onu: int | None
    signal: str | None
    signal_1310: Decimal | None
    signal_1490: Decimal | None
    raw: Raw = field(repr=False)


def olts(rows: Iterable[Raw]) -> Normalised[Olt]:
    result: Normalised[Olt] = Normalised()
    for raw in rows:
        olt_id = _id(raw, "id")
        if olt_id is None:
            result.skipped.append(Skipped("olts", "OLT without a usable id", raw))
            continue

        record = f"olt:{olt_id}"
        result.records.append(
            Olt(
                id=olt_id,
                name=values.text(raw.get("name")),
                hardware_version=values.text(raw.get("olt_hardware_version")),
                ip=values.text(raw.get("ip")),
                telnet_port=lenient(values.integer, raw, "telnet_port", record=record),
                snmp_port=lenient(values.integer, raw, "snmp_port", record=record),
                raw=raw,
            )
        )
    return result


def onus(rows: Iterable[Raw], zone: str | tzinfo = DEFAULT_ZONE) -> Normalised[Onu]:
    """Type ONUs; an ONU needs a unique_external_id or an SN to be kept."""
    local = values.zone_of(zone)
    result: Normalised[Onu] = Normalised()
    for raw in identified_onus(rows, result.skipped):
        result.records.append(onu(raw, local))
    return result


def identified_onus(rows: Iterable[Raw], skipped: list[Skipped]) -> Iterator[Raw]:
    """The ONU records that name an ONU, without their PPPoE password; the others are added
    to `skipped`."""
    for raw in rows:
        if not isinstance(raw, dict) or not (_key(raw, "unique_external_id") or _key(raw, "sn")):
            skipped.append(Skipped("onus", "ONU without unique_external_id or SN", raw))
            continue
        yield _without_secrets(raw)


def onu_place(raw: Raw) -> dict[str, Any]:
    """What tells an ONU apart, without typing the rest of its record: its ids and its PON
    position (olt_id, board, port, onu), each None where it is missing.

    {"unique_external_id": "HWTC0000A001", "sn": "HWTC0000A001", "olt_id": 1, "board": 0,
    "port": 1, "onu": 3}
    """
    return {
        "unique_external_id": _key(raw, "unique_external_id"),
        "sn": _key(raw, "sn"),
        **_position(raw, _record_name(raw)),
    }


def statuses(rows: Iterable[Raw], zone: str | tzinfo = DEFAULT_ZONE) -> Normalised[OnuStatus]:
    local = values.zone_of(zone)
    result: Normalised[OnuStatus] = Normalised()
    for raw in rows:
        if not isinstance(raw, dict) or not (_key(raw, "unique_external_id") or _key(raw, "sn")):
            result.skipped.append(Skipped("statuses", "row without unique_external_id", raw))
            continue

        record = _record_name(raw)
        result.records.append(
            OnuStatus(
                unique_external_id=_key(raw, "unique_external_id"),
                sn=_key(raw, "sn"),
                **_position(raw, record),
                name=values.text(raw.get("name")),
                status=values.text(raw.get("status")),
                last_status_change=_when(raw, "last_status_change", local, record),
                raw=raw,
            )
        )
    return result


def signals(rows: Iterable[Raw]) -> Normalised[OnuSignal]:
    result: Normalised[OnuSignal] = Normalised()
    for raw in rows:
        if not isinstance(raw, dict) or not (_key(raw, "unique_external_id") or _key(raw, "sn")):
            result.skipped.append(Skipped("signals", "row without unique_external_id", raw))
            continue

        record = _record_name(raw)
        result.records.append(
            OnuSignal(
                unique_external_id=_key(raw, "unique_external_id"),
                sn=_key(raw, "sn"),
                **_position(raw, record),
                signal=_filled(raw.get("signal")),
                signal_1310=lenient(values.signal, raw, "signal_1310", record=record),
                signal_1490=lenient(values.signal, raw, "signal_1490", record=record),
                raw=raw,
            )
        )
    return result


def onu(raw: Raw, zone: tzinfo) -> Onu:
    """One ONU of identified_onus(), typed."""
    record = _record_name(raw)

    def number(key: str) -> int | None:
        return lenient(values.integer, raw, key, record=record)

    return Onu(
        **onu_place(raw),
        olt_name=_filled(raw.get("olt_name")),
        onu_type_id=number("onu_type_id"),
        onu_type_name=_filled(raw.get("onu_type_name")),
        zone_id=number("zone_id"),
        zone_name=_filled(raw.get("zone_name")),
        name=_filled(raw.get("name")),
        address=_filled(raw.get("address")),
        contact=_filled(raw.get("contact")),
        latitude=lenient(values.coordinate, raw, "latitude", record=record),
        longitude=lenient(values.coordinate, raw, "longitude", record=record),
        odb_name=_filled(raw.get("odb_name")),
        odb_port=_filled(raw.get("odb_port")),
        mode=_filled(raw.get("mode")),
        wan_mode=_filled(raw.get("wan_mode")),
        vlan=number("vlan"),
        username=_filled(raw.get("username")),
        catv=_filled(raw.get("catv")),
        administrative_status=values.text(raw.get("administrative_status")),
        authorization_date=_when(raw, "authorization_date", zone, record),
        status=values.text(raw.get("status")),
        last_status_change=_when(raw, "last_status_change", zone, record),
        signal=_filled(raw.get("signal")),
        signal_1310=lenient(values.signal, raw, "signal_1310", record=record),
        signal_1490=lenient(values.signal, raw, "signal_1490", record=record),
        service_ports=tuple(_service_ports(raw, record)),
        raw=raw,
    )


def _service_ports(raw: Raw, record: str) -> list[ServicePort]:
    ports = []
    for item in raw.get("service_ports") or ():
        if not isinstance(item, dict):
            continue
        ports.append(
            ServicePort(
                service_port=lenient(values.integer, item, "service_port", record=record),
                vlan=lenient(values.integer, item, "vlan", record=record),
                upload_speed=values.text(item.get("upload_speed")),
                download_speed=values.text(item.get("download_speed")),
            )
        )
    return ports


def _position(raw: Raw, record: str) -> dict[str, int | None]:
    """The PON position a status or signal row names, each part None where it is missing."""
    return {
        key: lenient(values.integer, raw, key, record=record)
        for key in ("olt_id", "board", "port", "onu")
    }


def _record_name(raw: Raw) -> str:
    """How log lines name the ONU a record is about."""
    return f"onu:{_key(raw, 'unique_external_id') or _key(raw, 'sn')}"


def _when(raw: Raw, key: str, zone: tzinfo, record: str) -> datetime | None:
    return lenient(lambda value: values.moment(value, zone), raw, key, record=record)


def _filled(value: Any) -> str | None:
    """Text, or None where SmartOLT wrote "-" (or only blanks) for a field with no value, as
    it does for the levels: a contact or ODB called "-" is no contact or ODB."""
    text = values.text(value)
    return None if text is None or text.strip() in ("", "-") else text


def _key(raw: Raw, key: str) -> str | None:
    value = values.text(raw.get(key))
    return value if value and value.strip() else None


def _id(raw: Any, key: str) -> int | None:
    if not isinstance(raw, dict):
        return None
    try:
        return values.integer(raw.get(key))
    except (TypeError, ValueError):
        return None


def _without_secrets(raw: Raw) -> Raw:
    secrets = [key for key in SECRET_FIELDS if raw.get(key)]
    if not secrets:
        return raw
    redacted = dict(raw)
    for key in secrets:
        redacted[key] = REDACTED
    return redacted
