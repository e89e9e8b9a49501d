"""ISPCube's raw JSON turned into typed records for the store, each keeping its raw dict.

Pure functions: no I/O, so recorded payloads can be checked against exact expected rows.
A record that cannot be identified (no usable id) is skipped and reported, not guessed at.
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


@dataclass(slots=True)
class Customer:
    """A billing customer.

    Customer(id=1002, code="000102", name="CLIENTE DE PRUEBA DOS", status="no_service",
    doc_number="20-20000002-7", debt=Decimal("15400.00"), lat=None, block=True, ...)
    """

    id: int
    code: str | None
    name: str | None
    status: str | None
    doc_number: str | None
    address: str | None
    tax_residence: str | None
    city_id: int | None
    city_name: str | None
    lat: Decimal | None
    lng: Decimal | None
    debt: Decimal | None
    duedebt: Decimal | None
    block: bool | None
    free: bool | None
    speed_limited: bool | None
    temporary: bool | None
    extra1: str | None
    extra2: str | None
    start_date: datetime | None
    created_at: datetime | None
    updated_at: datetime | None
    deleted_at: datetime | None
    raw: Raw = field(repr=False)


@dataclass(slots=True)
class CustomerEmail:
    """CustomerEmail(customer_id=1001, email="cliente1@example.com"); `raw` is the item of the
    customer's contact_emails it came from."""

    customer_id: int
    email: str
    raw: Raw = field(repr=False)


@dataclass(slots=True)
class CustomerPhone:
    """CustomerPhone(customer_id=1001, number="0000000001"); `raw` is the item of the
    customer's phones it came from (the /customer endpoint adds `detail`, `sms`, ...)."""

    customer_id: int
    number: str
    raw: Raw = field(repr=False)


@dataclass(slots=True)
class Connection:
    """A billed service; `user` is the PPPoE user name, kept as sent (None when empty).

    Connection(id=5003, customer_id=1001, user="10045", node_id=4, plan_id=12, address=None,
    conntype="pppoe")
    """

    id: int
    customer_id: int | None
    user: str | None
    node_id: int | None
    plan_id: int | None
    address: str | None
    conntype: str | None
    raw: Raw = field(repr=False)


@dataclass(slots=True)
class Plan:
    """Plan(id=12, name="FIBRA 100", speed="100", comment=None)

    `speed` stays text as sent: ISPCube documents neither its unit nor its format (a number
    of Mbps, "100/20", kbps?), and a guessed conversion would store wrong numbers silently.
    """

    id: int
    name: str | None
    speed: str | None
    comment: str | None
    raw: Raw = field(repr=False)


@dataclass(slots=True)
class RouterCandidate:
    """A node, and the router it names if it gives what a poll needs (`pollable`).

    RouterCandidate(node_id=4, name="NODO NORTE", host="192.0.2.20", port=8728,
    port_defaulted=True): the node gives no port, so its router gets the one passed down as
    `default_port` (the config file's [defaults] port); with none passed, port is None.
    """

    node_id: int
    name: str | None
    host: str | None
    port: int | None
    port_defaulted: bool
    raw: Raw = field(repr=False)

    @property
    def pollable(self) -> bool:
        return self.host is not None and self.port is not None


@dataclass
class Customers:
    """The customers stream: customers plus the emails and phones nested in them."""

    customers: list[Customer] = field(default_factory=list)
    emails: list[CustomerEmail] = field(default_factory=list)
    phones: list[CustomerPhone] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def customers(rows: Iterable[Raw], zone: str | tzinfo = DEFAULT_ZONE) -> Customers:
    """Type customers; "...Z" dates are UTC, "YYYY-MM-DD HH:MM:SS" ones are in `zone`."""
    local = values.zone_of(zone)
    result = Customers()
    for customer_id, raw in identified(rows, "customers", result.skipped):
        result.customers.append(customer(customer_id, raw, local))
        result.emails.extend(emails(customer_id, raw))
        result.phones.extend(phones(customer_id, raw))
    return result


def connections(rows: Iterable[Raw]) -> Normalised[Connection]:
    result: Normalised[Connection] = Normalised()
    for connection_id, raw in identified(rows, "connections", result.skipped):
        result.records.append(connection(connection_id, raw))
    return result


def identified(
    rows: Iterable[Raw], stream: str, skipped: list[Skipped]
) -> Iterator[tuple[int, Raw]]:
    """Each record of a customers or connections listing with its id, which is all a sync
    needs to tell an unchanged record without typing it; one without a usable id is added
    to `skipped`."""
    for raw in rows:
        record_id = _record_id(raw)
        if record_id is None:
            skipped.append(Skipped(stream, f"{stream[:-1]} without a usable id", raw))
            continue
        yield record_id, raw


def connection(connection_id: int, raw: Raw) -> Connection:
    record = f"connection:{connection_id}"
    return Connection(
        id=connection_id,
        customer_id=lenient(values.integer, raw, "customer_id", record=record),
        user=values.text(raw.get("user")),
        node_id=lenient(values.integer, raw, "node_id", record=record),
        plan_id=lenient(values.integer, raw, "plan_id", record=record),
        address=values.text(raw.get("address")),
        conntype=values.text(raw.get("conntype")),
        raw=raw,
    )


def plans(rows: Iterable[Raw]) -> Normalised[Plan]:
    result: Normalised[Plan] = Normalised()
    for raw in rows:
        plan_id = _record_id(raw)
        if plan_id is None:
            result.skipped.append(Skipped("plans", "plan without a usable id", raw))
            continue

        result.records.append(
            Plan(
                id=plan_id,
                name=values.text(raw.get("name")),
                speed=values.text(raw.get("speed")),
                comment=values.text(raw.get("comment")),
                raw=raw,
            )
        )
    return result


def router_candidates(
    rows: Iterable[Raw], default_port: int | None = None
) -> Normalised[RouterCandidate]:
    """Every node with a usable id; a node without a usable port gets `default_port`.

    A node without an IP or a port (its own or the default) is among the records, since the
    nodes table keeps every node, and also in `skipped` with how to fix it, since it names
    no router to poll. No port is guessed: a router polled on the wrong one fails every run.
    A node without a usable id is only skipped.
    """
    result: Normalised[RouterCandidate] = Normalised()
    for raw in rows:
        node_id = _record_id(raw)
        if node_id is None:
            result.skipped.append(Skipped("nodes", "node without a usable id", raw))
            continue

        port = _port(raw.get("port"))
        node = RouterCandidate(
            node_id=node_id,
            name=values.text(raw.get("comment")),
            host=(values.text(raw.get("ip")) or "").strip() or None,
            port=port or default_port,
            port_defaulted=port is None and default_port is not None,
            raw=raw,
        )
        result.records.append(node)
        if not node.pollable:
            result.skipped.append(Skipped("nodes", _not_pollable(node), raw))
    return result


def _not_pollable(node: RouterCandidate) -> str:
    """Why a node names no router to poll, and what to set so that it does."""
    sent = node.raw.get("port")
    port = "no port" if sent in (None, "") else f"no usable port ({sent!r})"
    where = f"node {node.node_id} ({node.name})"
    if node.host is None and node.port is None:
        return (
            f"{where} has no IP and {port}: set both in ISPCube "
            "(or the port as port under [defaults] in the config file)"
        )
    if node.host is None:
        return f"{where} has no IP: set it in ISPCube"
    return (
        f"{where} has {port}: set the node's port in ISPCube, "
        "or port under [defaults] in the config file"
    )


def customer(customer_id: int, raw: Raw, zone: tzinfo) -> Customer:
    record = f"customer:{customer_id}"

    def when(key: str) -> datetime | None:
        return lenient(lambda value: values.moment(value, zone), raw, key, record=record)

    city = raw.get("city")
    return Customer(
        id=customer_id,
        code=values.text(raw.get("code")),
        name=values.text(raw.get("name")),
        status=values.text(raw.get("status")),
        doc_number=values.text(raw.get("doc_number")),
        address=values.text(raw.get("address")),
        tax_residence=values.text(raw.get("tax_residence")),
        city_id=lenient(values.integer, raw, "city_id", record=record),
        city_name=values.text(city.get("name")) if isinstance(city, dict) else None,
        lat=lenient(values.coordinate, raw, "lat", record=record),
        lng=lenient(values.coordinate, raw, "lng", record=record),
        debt=lenient(values.money, raw, "debt", record=record),
        duedebt=lenient(values.money, raw, "duedebt", record=record),
        block=lenient(values.flag, raw, "block", record=record),
        free=lenient(values.flag, raw, "free", record=record),
        speed_limited=lenient(values.flag, raw, "speed_limited", record=record),
        temporary=lenient(values.flag, raw, "temporary", record=record),
        extra1=values.text(raw.get("extra1")),
        extra2=values.text(raw.get("extra2")),
        start_date=when("start_date"),
        created_at=when("created_at"),
        updated_at=when("updated_at"),
        deleted_at=when("deleted_at"),
        raw=raw,
    )


def emails(customer_id: int, raw: Raw) -> list[CustomerEmail]:
    found = []
    for item in raw.get("contact_emails") or ():
        email = values.text(item.get("email")) if isinstance(item, dict) else None
        if email and email.strip():
            found.append(CustomerEmail(customer_id, email.strip(), item))
    return found


def phones(customer_id: int, raw: Raw) -> list[CustomerPhone]:
    found = []
    for item in raw.get("phones") or ():
        number = values.text(item.get("number")) if isinstance(item, dict) else None
        if number and number.strip():
            found.append(CustomerPhone(customer_id, number.strip(), item))
    return found


def _record_id(raw: Any) -> int | None:
    if not isinstance(raw, dict):
        return None
    try:
        return values.integer(raw.get("id"))
    except (TypeError, ValueError):
        return None


def _port(value: Any) -> int | None:
    try:
        port = values.integer(value)
    except (TypeError, ValueError):
        return None
    if port is None or not 0 < port < 65536:
        return None
    return port
