"""The lab's seeded SaaS world: ISPCube customers, connections, plans and nodes, SmartOLT OLTs
and ONUs, all built from the router fleet and kept as the raw JSON the real APIs send.

Billing agrees with the routers except where a mismatch between the sources (the kinds M1-M10
below) is seeded on purpose, and `expected_findings()` recomputes every finding the world holds
with the rules below, so a report can be checked exactly. The rules the oracle applies (names
compared after trim + casefold; "pppoe connection" = conntype "pppoe" with a non-empty user):

- M1  enabled secret, profile not in the cut set, on a connection whose customer's status is not
      "enabled".
- M2  secret whose name matches no pppoe connection.
- M3  pppoe connection of an enabled customer, on a node that is a polled, reachable router, whose
      user matches no secret on any router.
- M3b same, but the secret exists only on routers other than the connection's node.
- M4  one name on secrets of two or more routers.
- M5  disabled secret on a connection of an enabled customer.
- M6  disabled secret with a session in the same router's /ppp/active.
- M7  an ONU named like a pppoe connection's user with status Offline/LOS/Power fail, signal
      Warning/Critical, ONU Rx (1490) below `rx_threshold`, or administratively Disabled while
      the customer is enabled. One finding per (user, ONU serial).
- M7b an ONU whose name matches no pppoe connection, and an FTTH connection (plan "FIBRA ...")
      with no ONU.
- M8  a speed that differs from the plan's speed in Mbps, for an enabled secret not in the cut
      set: its profile's rate-limit (the tx of its first pair) or its dynamic queue's max-limit
      (`<pppoe-user>`, the download half), one finding each; and an ONU of a pppoe connection
      whose service port's download speed profile ("100M", "1G") differs from the plan's.
- M9  enabled secret of an enabled customer with no session and a last-logged-out older than
      `stale_days` before `now` (or none).
- M10 a node whose router does not answer (seeded: 127.0.0.1 port 1); its connections are not
      counted as M3.

`build_billing` adds, by default, two rows to the fleet it is given (an upper-case copy of a
router-000 secret on router-001 for M4; an active session for a disabled secret for M6 when
the fleet has none), because the router dataset alone never seeds those two.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from emerald_cli.lab.dataset import Fleet, LabRouter

Raw = dict[str, Any]

PLANS = (
    # id, name, speed, comment, the router profile it belongs to
    (10, "FIBRA 50", "50", "Plan residencial", "FIBRA-50"),
    (12, "FIBRA 100", "100", None, "FIBRA-100"),
    (14, "FIBRA 300", "300", "Plan empresas", "FIBRA-300"),
    (20, "INALAMBRICO 10", "10", "Enlace de radio", "default"),
)
CUT_PROFILES = ("CORTE",)
CUT_PLAN_ID = 10
SLOW_QUEUE_LIMIT = "20000000/20000000"  # the seeded M8 queue: 20 Mbps whatever the plan
FAST_ONU_SPEED = "1G"  # the seeded M8 ONU: faster than any plan
SPARE_BOARD = "16"  # beyond the 16 boards (0-15) the ONUs are spread over
NO_IP_NODE_ID = 900
GONE_NODE_ID = 901
GONE_PORT = 1
FIRST_CUSTOMER_ID = 1001
FIRST_CONNECTION_ID = 5001
BAD_ONU_STATUSES = ("offline", "los", "power fail")
BAD_SIGNALS = ("warning", "critical")
REFERENCE_NOW = datetime(2025, 1, 1)
MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
OLTS = (
    {
        "id": "1",
        "name": "OLT-CENTRO",
        "olt_hardware_version": "MA5800-X7",
        "ip": "10.0.0.2",
        "telnet_port": "23",
        "snmp_port": "161",
    },
    {
        "id": "2",
        "name": "OLT-NORTE",
        "olt_hardware_version": "C320",
        "ip": "10.0.0.3",
        "telnet_port": "2323",
        "snmp_port": "",
    },
)
ZONES = (("2", "Zona Centro"), ("3", "Zona Norte"))


@dataclass(frozen=True, order=True)
class Finding:
    """One mismatch: Finding("M5", "pp-000-00005", "router-000", "customer 1006 is enabled")."""

    kind: str
    subject: str
    router: str | None
    detail: str


@dataclass
class Billing:
    """The SaaS side of the lab, read live by the lab servers so tests may change it."""

    fleet: Fleet
    customers: list[Raw] = field(default_factory=list)
    connections: list[Raw] = field(default_factory=list)
    plans: list[Raw] = field(default_factory=list)
    nodes: list[Raw] = field(default_factory=list)
    olts: list[Raw] = field(default_factory=list)
    onus: list[Raw] = field(default_factory=list)
    seeded: dict[str, list[str]] = field(default_factory=dict)

    def set_node_endpoint(self, router_name: str, host: str, port: int) -> None:
        """Point a router's node at its lab server; odd routers get the port as text."""
        router = self.fleet.router(router_name)
        node = self.node(router.index + 1)
        node["ip"] = host
        node["port"] = str(port) if router.index % 2 else port

    def node(self, node_id: int) -> Raw:
        for node in self.nodes:
            if node["id"] == node_id:
                return node
        raise KeyError(node_id)

    def statuses(self) -> list[Raw]:
        """Rows of get_onus_statuses, derived from the ONUs."""
        keys = [
            "unique_external_id",
            "sn",
            "olt_id",
            "board",
            "port",
            "onu",
            "zone_id",
            "name",
            "address",
            "contact",
            "status",
            "last_status_change",
        ]
        rows = []
        for onu in self.onus:
            row = {key: onu[key] for key in keys}
            row["odb_id"] = onu["_odb_id"]
            rows.append(row)
        return rows

    def signals(self, *, positions: bool = True) -> list[Raw]:
        """Rows of get_onus_signals, derived from the ONUs: as in the reference sample, or with
        only the fields SmartOLT documents (positions=False): the id and the three levels."""
        keys = "unique_external_id signal signal_1310 signal_1490"
        if positions:
            keys += " sn olt_id board port onu"
        return [{key: onu[key] for key in keys.split()} for onu in self.onus]

    def onu_details(self, start: int = 0, stop: int | None = None) -> list[Raw]:
        """ONUs (a slice of them, for one page) as get_all_onus_details sends them, without the
        lab's own bookkeeping."""
        onus = self.onus[start:stop]
        return [{k: v for k, v in onu.items() if not k.startswith("_")} for onu in onus]

    def expected_findings(
        self,
        *,
        now: datetime = REFERENCE_NOW,
        stale_days: int = 30,
        rx_threshold: float = -27.0,
        cut_profiles: tuple[str, ...] = CUT_PROFILES,
    ) -> list[Finding]:
        """Every finding in the world as it is now, by the rules in the module docstring."""
        return _Oracle(self, now, stale_days, rx_threshold, cut_profiles).findings()

    def write_findings(self, path: str | Path, **rules: Any) -> None:
        """Write expected_findings() as a JSON list of {kind, subject, router, detail}."""
        findings = [asdict(finding) for finding in self.expected_findings(**rules)]
        Path(path).write_text(json.dumps(findings, indent=1, ensure_ascii=False) + "\n")


def build_billing(
    fleet: Fleet,
    *,
    customers: int | None = None,
    extra_connections: int = 0,
    seed: int = 11,
    suspended_status: str = "blocked",
    seed_router_mismatches: bool = True,
) -> Billing:
    """Build the billing and OLT world of `fleet`; the same arguments give the same world.

    `customers` (at least one per router secret) and `extra_connections` add rows tied to no
    router, for volume: 20,000 customers and 50,000 connections build in a few seconds.
    """
    rng = random.Random(seed)
    billing = Billing(fleet=fleet)
    if seed_router_mismatches:
        _seed_router_mismatches(fleet)

    billing.plans = [
        {"id": plan_id, "name": name, "speed": speed, "comment": comment}
        for plan_id, name, speed, comment, _ in PLANS
    ]
    billing.nodes = _nodes(fleet)
    billing.olts = [dict(olt) for olt in OLTS]

    builder = _Builder(billing, rng, suspended_status)
    builder.tie_secrets()
    builder.add_seeded_connections()
    if seed_router_mismatches:
        builder.slow_queue()
    builder.add_extra(customers, extra_connections)
    builder.add_onus()
    return billing


def _seed_router_mismatches(fleet: Fleet) -> None:
    routers = fleet.routers
    if len(routers) >= 2 and len(routers[0].secrets) > 7:
        source = routers[0].secrets[7]
        target = routers[1]
        copy = dict(source, name=source["name"].upper(), disabled="false")
        copy[".id"] = f"*{0x1000 + len(target.secrets):X}"
        if not any(s["name"] == copy["name"] for s in target.secrets):
            target.secrets.append(copy)

    for router in routers:
        active = {session["name"] for session in router.active}
        if any(s["disabled"] == "true" and s["name"] in active for s in router.secrets):
            return
    for router in routers:
        for secret in router.secrets:
            if secret["disabled"] == "true":
                router.active.append(_session(router, secret))
                return


def _session(router: LabRouter, secret: dict[str, str]) -> dict[str, str]:
    number = len(router.active)
    return {
        ".id": f"*{0x80000000 + number:X}",
        "name": secret["name"],
        "service": "pppoe",
        "caller-id": secret.get("last-caller-id", ""),
        "address": f"10.21.{number // 250}.{number % 250 + 2}",
        "uptime": "1d02:03:00",
        "encoding": "",
        "session-id": f"0x{0x81000000 + number:X}",
        "limit-bytes-in": "0",
        "limit-bytes-out": "0",
        "radius": "false",
    }


def _nodes(fleet: Fleet) -> list[Raw]:
    nodes: list[Raw] = [
        {"id": router.index + 1, "comment": router.name, "ip": "127.0.0.1", "port": None}
        for router in fleet.routers
    ]
    nodes.append({"id": NO_IP_NODE_ID, "comment": "NODO SIN IP", "ip": None, "port": "8728"})
    nodes.append(
        {"id": GONE_NODE_ID, "comment": "router-gone", "ip": "127.0.0.1", "port": GONE_PORT}
    )
    return nodes


class _Builder:
    """Fills a Billing step by step; keeps the running ids and the seeded picks."""

    def __init__(self, billing: Billing, rng: random.Random, suspended_status: str) -> None:
        self.billing = billing
        self.rng = rng
        self.suspended_status = suspended_status
        self.next_customer = FIRST_CUSTOMER_ID
        self.next_connection = FIRST_CONNECTION_ID
        self.plan_of_profile = {profile: plan_id for plan_id, *_, profile in PLANS}
        self.skip_onu: set[str] = set()

    def seed(self, kind: str, subject: str) -> None:
        self.billing.seeded.setdefault(kind, []).append(subject)

    def customer(self, status: str) -> int:
        customer_id = self.next_customer
        self.next_customer += 1
        self.billing.customers.append(_customer_row(self.rng, customer_id, status))
        return customer_id

    def connection(
        self,
        customer_id: int,
        user: str,
        node_id: int | None,
        plan_id: int | None,
        conntype: str = "pppoe",
    ) -> Raw:
        number = self.next_connection - FIRST_CONNECTION_ID
        row = {
            "id": self.next_connection,
            "user": user,
            "customer_id": customer_id,
            "node_id": node_id,
            "plan_id": plan_id,
            "address": ("", None, f"Calle {number % 97} {100 + number % 900}")[min(number % 9, 2)],
            "conntype": conntype,
        }
        self.next_connection += 1
        self.billing.connections.append(row)
        return row

    def tie_secrets(self) -> None:
        """One customer and one pppoe connection per secret, with the seeded exceptions."""
        picks = self._picks()
        routers = self.billing.fleet.routers
        for router in routers:
            node_id = router.index + 1
            for secret in router.secrets:
                name = secret["name"]
                if name == picks.get("M2"):
                    self.seed("M2", name)
                    continue
                if (
                    router.index > 0
                    and name.upper() == name
                    and any(s["name"] == name.lower() for s in routers[0].secrets)
                ):
                    continue  # the M4 copy belongs to router-000's connection

                status = self._status(secret, name, picks)
                plan_id = self._plan(secret, name, picks)
                connection_node = node_id
                if name == picks.get("M3b"):
                    connection_node = routers[1].index + 1
                    self.seed("M3b", name)
                if name == picks.get("M7b"):
                    self.skip_onu.add(name)
                    self.seed("M7b", name)
                self.connection(self.customer(status), name, connection_node, plan_id)

                if name == picks.get("duplicate"):
                    self.connection(self.next_customer - 1, name, connection_node, plan_id)

    def _picks(self) -> dict[str, str]:
        # Deterministic choices among secrets that fit each seeded case.
        fitting = [
            secret["name"]
            for router in self.billing.fleet.routers
            for secret in router.secrets
            if secret["disabled"] == "false"
            and secret["profile"] not in CUT_PROFILES
            and secret["profile"] != "default"
            and secret["name"].startswith("pp-")
        ]
        fitting = [name for name in fitting if name.upper() != name]
        kinds = ("M2", "M1", "M1-suspended", "M8", "M7b", "duplicate", "M7-admin", "M7-rx")
        picks = dict(zip(kinds, fitting[1::2], strict=False))
        router_zero = [
            s["name"]
            for s in self.billing.fleet.routers[0].secrets
            if s["name"] in fitting and s["name"] not in picks.values()
        ]
        if len(self.billing.fleet.routers) >= 2 and router_zero:
            picks["M3b"] = router_zero[-1]
        disabled = [
            s["name"]
            for router in self.billing.fleet.routers
            for s in router.secrets
            if s["disabled"] == "true"
        ]
        if disabled:
            picks["M5"] = disabled[0]
        self.billing.seeded["_picks"] = sorted(f"{k}={v}" for k, v in picks.items())
        return picks

    def _status(self, secret: dict[str, str], name: str, picks: dict[str, str]) -> str:
        if name == picks.get("M5"):
            self.seed("M5", name)
            return "enabled"
        if name == picks.get("M1"):
            self.seed("M1", name)
            return "no_service"
        if name == picks.get("M1-suspended"):
            self.seed("M1", name)
            return self.suspended_status
        if secret["disabled"] == "true" or secret["profile"] in CUT_PROFILES:
            return "no_service"
        return "enabled"

    def _plan(self, secret: dict[str, str], name: str, picks: dict[str, str]) -> int:
        profile = secret["profile"]
        if name == picks.get("M8"):
            self.seed("M8", name)
            return 14 if profile != "FIBRA-300" else 10
        return self.plan_of_profile.get(profile, CUT_PLAN_ID)

    def add_seeded_connections(self) -> None:
        routers = self.billing.fleet.routers
        first_node = routers[0].index + 1 if routers else None
        ghost = "pp-sin-secreto-001"
        self.connection(self.customer("enabled"), ghost, first_node, 12)
        self.seed("M3", ghost)

        owner = self.customer("enabled")
        for number in (1, 2):
            user = f"pp-gone-{number:05d}"
            self.connection(owner, user, GONE_NODE_ID, 10)
        self.seed("M10", "router-gone")

        self.connection(self.customer("no_service"), "", None, None)

    def add_extra(self, customers: int | None, extra_connections: int) -> None:
        tied = self.next_customer - FIRST_CUSTOMER_ID
        wanted = max(customers or 0, tied)
        extra_owners = [
            self.customer(
                self.rng.choices(("enabled", "no_service", self.suspended_status), (90, 8, 2))[0]
            )
            for _ in range(wanted - tied)
        ]
        owners = extra_owners or [row["id"] for row in self.billing.customers]
        for number in range(extra_connections):
            conntype = ("pppoe", "pppoe", "pppoe", "pppoe", "dhcp")[number % 5]
            user = f"ex-{number:06d}" if conntype == "pppoe" else ""
            plan_id = (10, 12, 14, 20)[number % 4] if number % 23 else None
            self.connection(owners[number % len(owners)], user, NO_IP_NODE_ID, plan_id, conntype)

    def slow_queue(self) -> None:
        """M8 on a router: one dynamic queue limited below what its customer's plan sells."""
        picked = {item.split("=", 1)[1] for item in self.billing.seeded["_picks"]}
        enabled = {row["id"] for row in self.billing.customers if row["status"] == "enabled"}
        users = {
            row["user"]
            for row in self.billing.connections
            if row["customer_id"] in enabled and row["user"] not in picked
        }
        for router in reversed(self.billing.fleet.routers):
            profiles = {secret["name"]: secret["profile"] for secret in router.secrets}
            for queue in router.queues:
                user = queue["name"].removeprefix("<pppoe-").removesuffix(">")
                if user in users and profiles[user] not in CUT_PROFILES:
                    queue["max-limit"] = SLOW_QUEUE_LIMIT
                    self.seed("M8", user)
                    return

    def add_onus(self) -> None:
        """One ONU per FTTH connection, with the seeded quirks and problems."""
        plan_names = {plan["id"]: plan["name"] for plan in self.billing.plans}
        plan_speeds = {plan["id"]: f"{plan['speed']}M" for plan in self.billing.plans}
        picks = dict(item.split("=", 1) for item in self.billing.seeded["_picks"])
        number = 0
        for row in self.billing.connections:
            user = row["user"]
            if (
                row["conntype"] != "pppoe"
                or not user
                or user in self.skip_onu
                or not str(plan_names.get(row["plan_id"], "")).startswith("FIBRA")
            ):
                continue
            if user == picks.get("duplicate") and row["id"] != self._first_id(user):
                continue
            onu = _onu_row(self.rng, number, user, plan_speeds[row["plan_id"]])
            self._quirks(onu, number, user, picks)
            self.billing.onus.append(onu)
            number += 1

        bridge = _onu_row(self.rng, number, "CLIENTE 7 BRIDGE")
        _bridging(bridge)
        self.billing.onus.append(bridge)
        self.seed("M7b", "CLIENTE 7 BRIDGE")
        self._fast_onu(picks)

    def _fast_onu(self, picks: dict[str, str]) -> None:
        """M8 on the OLT: one ONU provisioned faster than its customer's plan."""
        served = {
            row["user"]
            for row in self.billing.connections
            if row["user"] and row["node_id"] != GONE_NODE_ID
        }
        for onu in reversed(self.billing.onus):
            if onu["name"] in served and onu["name"] not in picks.values():
                for port in onu["service_ports"]:
                    port.update(upload_speed=FAST_ONU_SPEED, download_speed=FAST_ONU_SPEED)
                self.seed("M8", onu["name"])
                return

    def _first_id(self, user: str) -> int:
        return min(row["id"] for row in self.billing.connections if row["user"] == user)

    def _quirks(self, onu: Raw, number: int, user: str, picks: dict[str, str]) -> None:
        if user == picks.get("M7-admin"):
            onu.update(administrative_status="Disabled", status="Power fail", signal="Critical")
            onu.update(signal_1310="-32.80 dBm", signal_1490="-29.90 dBm")
            self.seed("M7", user)
        elif user == picks.get("M7-rx"):
            onu.update(status="Online", signal="Warning")
            onu.update(signal_1310="-30.46 dBm", signal_1490="-28.10 dBm")
            self.seed("M7", user)
        elif user == picks.get("M1"):
            onu.update(status="LOS", signal="-", signal_1310="-", signal_1490="-")
            self.seed("M7", user)
        elif user == picks.get("duplicate"):
            old = _onu_row(
                self.rng, number + 100000, user, onu["service_ports"][0]["download_speed"]
            )
            old.update(status="Offline", signal="-", signal_1310="-", signal_1490="-")
            old["unique_external_id"] = onu["unique_external_id"]
            old["board"] = SPARE_BOARD  # still provisioned on a board no other ONU is on
            self.billing.onus.append(old)
            self.seed("M7", user)
        elif number % 13 == 4:
            onu["name"] = user + " "
        elif number % 13 == 9:
            onu["name"] = user.upper()
        elif number % 7 == 6:
            _bridging(onu)
        elif number % 17 == 8:
            onu["signal_1490"] = onu["signal_1490"].removesuffix(" dBm")


def _customer_row(rng: random.Random, customer_id: int, status: str) -> Raw:
    n = customer_id - FIRST_CUSTOMER_ID
    created = datetime(2021, 1, 1) + timedelta(days=n % 1200, minutes=n % 1440)
    start = created.date()
    located = n % 4
    lat = ("0.000000000000", f"-34.{600000000000 + n * 7919 % 10**11:012d}", None, "-34.5")[
        located
    ]
    lng = ("0.000000000000", f"-58.{400000000000 + n * 104729 % 10**11:012d}", None, None)[located]
    debt = rng.choice((0, 0, 0, 7700, 15400, 23100)) if status != "enabled" else 0
    docs = (f"{20 + n % 20}.{n % 1000:03d}.{n % 997:03d}", f"20-{20000000 + n}-{n % 10}")
    return {
        "id": customer_id,
        "code": f"{customer_id - 900:06d}",
        "name": f"CLIENTE {n:05d}" + ("\x00" if n == 3 else ""),
        "tax_residence": f"Calle {n % 97} {100 + n % 900}",
        "type": "no_fiscal_invoice",
        "tax_situation_id": 4,
        "identification_type_id": 7 if n % 5 else 8,
        "doc_number": (docs[0], docs[1], str(20000000 + n))[n % 3],
        "auto_bill_sending": n % 2,
        "auto_payment_recipe_sending": 1,
        "nickname": None,
        "comercial_activity": None,
        "address": f"Calle {n % 97} {100 + n % 900}",
        "between_address1": None if n % 3 else "Calle A",
        "between_address2": None if n % 3 else "Calle B",
        "city_id": 1 + n % 3,
        "lat": lat,
        "lng": lng,
        "extra1": "" if n % 2 else None,
        "extra2": None,
        "entity_id": 2,
        "collector_id": 1,
        "seller_id": None if n % 4 else 3,
        "block": 1 if status != "enabled" or n % 3 == 0 else 0,
        "free": 1 if n % 50 == 7 else 0,
        "apply_late_payment_due": n % 2,
        "apply_reconnection": n % 2,
        "contract": 1 if n % 3 else 0,
        "contract_type_id": None,
        "contract_expiration_date": None,
        "paycomm": None,
        "expiration_type_id": 1 if n % 2 else None,
        "business_id": 1,
        "first_expiration_date": 0 if n % 2 else None,
        "second_expiration_date": 0 if n % 2 else None,
        "next_month_corresponding_date": 0,
        "start_date": f"{start.isoformat()} 00:00:00",
        "perception_id": None,
        "phonekey": None,
        "debt": f"{debt}.00",
        "duedebt": f"{debt // 2}.00",
        "speed_limited": 0,
        "status": status,
        "enable_date": None,
        "block_date": None,
        "created_at": (created + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
        "updated_at": (created + timedelta(days=400)).strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
        "deleted_at": None,
        "temporary": 0,
        "tax_situation": {"id": 4, "name": "Consumidor Final", "selected": ""},
        "identification_type": {"id": 7, "name": "DNI"} if n % 5 else {"id": 8, "name": "CUIT"},
        "city": {
            "id": 1 + n % 3,
            "name": ("Localidad Ejemplo", "Villa Norte", "Paraje Sur")[n % 3],
        },
        "entity": {
            "id": 2,
            "name": "Caja",
            "tags_ids": ["[]"],
            "selected_default": True,
            "tags": [],
        },
        "contact_emails": []
        if n % 4 == 1
        else [{"customer_id": customer_id, "email": f"cliente{n}@example.com"}],
        "phones": [{"customer_id": customer_id, "number": f"{n:010d}"}],
        "business": {"id": 1, "name": "ISP Ejemplo SRL"},
    }


def _onu_row(rng: random.Random, number: int, name: str, speed: str = "100M") -> Raw:
    olt = OLTS[number % 2]
    zone_id, zone_name = ZONES[number % 2]
    vendor = "HWTC" if number % 2 == 0 else "ZTEG"
    serial = f"{vendor}{number:08X}"
    status = rng.choices(("Online", "Offline", "LOS", "Power fail"), (94, 2, 2, 2))[0]
    onu_rx = -14.0 - rng.random() * 11.5
    olt_rx = -17.0 - rng.random() * 10.5
    if status in ("Offline", "LOS"):
        signal, signal_1310, signal_1490 = "-", "-", "-"
    else:
        signal = "Very good" if olt_rx > -27 else "Warning"
        signal_1310, signal_1490 = f"{olt_rx:.2f} dBm", f"{onu_rx:.2f} dBm"
    changed = datetime(2024, 6, 1) + timedelta(minutes=number * 37 % 400000)
    authorized = datetime(2022, 1, 1) + timedelta(minutes=number * 53 % 900000)
    return {
        "unique_external_id": serial,
        "pon_type": "gpon",
        "gpon_channel": "gpon",
        "sn": serial,
        "olt_id": olt["id"],
        "olt_name": olt["name"],
        # ONUs alternate between the two OLTs; on each, 16 boards x 16 ports x 128 ONUs.
        "board": str(number // 2 // 2048 % 16),
        "port": str(number // 2 // 128 % 16),
        "onu": str(number // 2 % 128),
        "onu_type_id": "17" if vendor == "HWTC" else "9",
        "onu_type_name": "HG8145V5" if vendor == "HWTC" else "F601",
        "zone_id": zone_id,
        "zone_name": zone_name,
        "name": name,
        "address": ("", None, f"Calle {number % 97} {100 + number % 900}")[number % 3],
        "contact": "" if number % 2 else None,
        "latitude": None if number % 3 else f"-34.{590000 + number % 9000:06d}",
        "longitude": None if number % 3 else f"-58.{410000 + number % 9000:06d}",
        "odb_name": f"NAP-{number // 16:04d}" if number % 5 else None,
        "odb_port": str(number % 16 + 1) if number % 5 else None,
        "mode": "Routing",
        "wan_mode": "PPPoE",
        "vlan": "100" if olt["id"] == "1" else "200",
        "ip_address": None,
        "subnet_mask": None,
        "default_gateway": None,
        "dns1": None,
        "dns2": None,
        "username": name,
        "password": f"onu-secret-{number}",
        "catv": "Not supported",
        "custom_template_name": None,
        "administrative_status": "Enabled",
        "authorization_date": authorized.strftime("%Y-%m-%d %H:%M:%S"),
        "is_synced_after_import": "1",
        "is_failed_resync_config": "0",
        "status": status,
        "last_status_change": changed.strftime("%Y-%m-%d %H:%M:%S"),
        "signal": signal,
        "signal_1310": signal_1310,
        "signal_1490": signal_1490,
        "service_ports": [
            {
                "service_port": str(100 + number),
                "vlan": "100" if olt["id"] == "1" else "200",
                "cvlan": "",
                "svlan": "",
                "tag_transform_mode": "translate",
                "upload_speed": speed,
                "download_speed": speed,
            }
        ],
        "ethernet_ports": [],
        "wifi_ports": [],
        "voip_ports": [],
        "_odb_id": str(7 + number // 16) if number % 5 else None,
    }


def _bridging(onu: Raw) -> None:
    onu.update(mode="Bridging", wan_mode="Setup via ONU webpage", username=None, password=None)
    onu["catv"] = "Disabled"


def norm(name: Any) -> str:
    """A PPPoE name as the join compares it: trimmed and case-folded."""
    return str(name).strip().casefold()


class _Oracle:
    """Computes the findings of a Billing + Fleet with the module's rules."""

    def __init__(
        self,
        billing: Billing,
        now: datetime,
        stale_days: int,
        rx_threshold: float,
        cut_profiles: tuple[str, ...],
    ) -> None:
        self.billing = billing
        self.now = now
        self.stale_days = stale_days
        self.rx_threshold = rx_threshold
        self.cut = set(cut_profiles)
        self.routers = billing.fleet.routers
        self.router_of_node = {router.index + 1: router.name for router in self.routers}
        self.unreachable = {GONE_NODE_ID}
        self.status = {row["id"]: row["status"] for row in billing.customers}
        self.plans = {row["id"]: row for row in billing.plans}
        self.connections: dict[str, list[Raw]] = {}
        for row in billing.connections:
            if row["conntype"] == "pppoe" and row["user"]:
                self.connections.setdefault(norm(row["user"]), []).append(row)
        self.secrets: dict[str, list[tuple[LabRouter, dict[str, str]]]] = {}
        for router in self.routers:
            for secret in router.secrets:
                self.secrets.setdefault(norm(secret["name"]), []).append((router, secret))
        self.queues = {
            (router.name, queue["name"]): queue
            for router in self.routers
            for queue in router.queues
        }
        self.onus: dict[str, list[Raw]] = {}
        for onu in billing.onus:
            if onu["name"]:
                self.onus.setdefault(norm(onu["name"]), []).append(onu)

    def findings(self) -> list[Finding]:
        found: list[Finding] = []
        for router in self.routers:
            active = {session["name"] for session in router.active}
            for secret in router.secrets:
                found.extend(self._secret(router, secret, active))
        found.extend(self._connections())
        found.extend(self._duplicates())
        found.extend(self._onus())
        found.extend(
            Finding("M10", node["comment"], node["comment"], f"{node['ip']}:{node['port']}")
            for node in self.billing.nodes
            if node["id"] in self.unreachable
        )
        return sorted(found)

    def _enabled(self, connections: list[Raw]) -> bool:
        return any(self.status.get(row["customer_id"]) == "enabled" for row in connections)

    def _secret(
        self, router: LabRouter, secret: dict[str, str], active: set[str]
    ) -> list[Finding]:
        name = secret["name"]
        connections = self.connections.get(norm(name), [])
        disabled = secret["disabled"] == "true"
        cut = secret["profile"] in self.cut
        found = []
        if not connections:
            found.append(Finding("M2", name, router.name, "no pppoe connection"))
        if disabled and name in active:
            found.append(Finding("M6", name, router.name, "disabled with a live session"))
        if disabled and self._enabled(connections):
            found.append(Finding("M5", name, router.name, "customer enabled, secret disabled"))
        if disabled or cut or not connections:
            return found

        suspended = sorted(
            {self.status.get(row["customer_id"]) for row in connections} - {"enabled"},
            key=str,
        )
        if suspended:
            found.append(Finding("M1", name, router.name, f"customer is {suspended[0]}"))
        found.extend(self._speed(router, secret, connections))
        if self._enabled(connections) and name not in active and self._stale(secret):
            last = secret.get("last-logged-out") or "never"
            found.append(Finding("M9", name, router.name, f"last logged out {last}"))
        return found

    def _speed(
        self, router: LabRouter, secret: dict[str, str], connections: list[Raw]
    ) -> list[Finding]:
        profile = next((p for p in router.profiles if p["name"] == secret["profile"]), None)
        queue_name = f"<pppoe-{secret['name']}>"
        queue = self.queues.get((router.name, queue_name))
        limits = (
            (
                _tx_mbps(profile.get("rate-limit", "")) if profile else None,
                f"profile {secret['profile']}",
            ),
            (_tx_mbps(queue["max-limit"]) if queue else None, f"queue {queue_name}"),
        )
        return [
            Finding("M8", secret["name"], router.name, f"plan {plan} ({speed} Mbps) vs {where}")
            for plan, speed in self._plan_speeds(connections)
            for rate, where in limits
            if rate is not None and rate != speed
        ]

    def _plan_speeds(self, connections: list[Raw]) -> list[tuple[str, int]]:
        """The name and speed in Mbps of each connection's plan, where the speed is a number."""
        speeds = []
        for row in connections:
            plan = self.plans.get(row["plan_id"])
            if plan and str(plan["speed"]).isdigit():
                speeds.append((plan["name"], int(plan["speed"])))
        return speeds

    def _stale(self, secret: dict[str, str]) -> bool:
        last = _logged_out(secret.get("last-logged-out", ""))
        return last is None or (self.now - last).days > self.stale_days

    def _connections(self) -> list[Finding]:
        found = []
        for key, connections in self.connections.items():
            holders = {router.name for router, _ in self.secrets.get(key, [])}
            for row in connections:
                router = self.router_of_node.get(row["node_id"])
                if router is None or self.status.get(row["customer_id"]) != "enabled":
                    continue
                if not holders:
                    found.append(Finding("M3", row["user"], router, "no secret on any router"))
                elif router not in holders:
                    where = ", ".join(sorted(holders))
                    found.append(Finding("M3b", row["user"], router, f"secret on {where}"))
        return found

    def _duplicates(self) -> list[Finding]:
        found = []
        for holders in self.secrets.values():
            routers = sorted({router.name for router, _ in holders})
            if len(routers) > 1:
                found.append(Finding("M4", holders[0][1]["name"], None, ", ".join(routers)))
        return found

    def _onus(self) -> list[Finding]:
        found = []
        for key, onus in self.onus.items():
            if key not in self.connections:
                found.extend(
                    Finding("M7b", onu["name"], None, f"ONU {onu['sn']} matches no connection")
                    for onu in onus
                )
                continue
            enabled = self._enabled(self.connections[key])
            user = self.connections[key][0]["user"]
            for onu in onus:
                problem = self._onu_problem(onu, enabled)
                if problem:
                    found.append(Finding("M7", user, None, f"{onu['sn']}: {problem}"))
                found.extend(self._onu_speed(onu, self.connections[key]))
        plan_names = {plan["id"]: str(plan["name"]) for plan in self.billing.plans}
        for key, connections in self.connections.items():
            ftth = any(
                plan_names.get(row["plan_id"], "").startswith("FIBRA") for row in connections
            )
            if ftth and key not in self.onus:
                user = connections[0]["user"]
                found.append(Finding("M7b", user, None, "FTTH connection with no ONU"))
        return found

    def _onu_speed(self, onu: Raw, connections: list[Raw]) -> list[Finding]:
        user = connections[0]["user"]
        return [
            Finding("M8", user, None, f"plan {plan} ({speed} Mbps) vs ONU {onu['sn']} {profile}")
            for plan, speed in self._plan_speeds(connections)
            for profile in (port["download_speed"] for port in onu["service_ports"])
            if _speed_mbps(profile) not in (None, speed)
        ]

    def _onu_problem(self, onu: Raw, enabled: bool) -> str | None:
        if str(onu["status"]).casefold() in BAD_ONU_STATUSES:
            return f"status {onu['status']}"
        if str(onu["signal"]).casefold() in BAD_SIGNALS:
            return f"signal {onu['signal']}"
        rx = _dbm(onu["signal_1490"])
        if rx is not None and rx < self.rx_threshold:
            return f"ONU Rx {rx:.2f} dBm"
        if onu["administrative_status"] == "Disabled" and enabled:
            return "administratively disabled"
        return None


def _tx_mbps(rate_limit: str) -> float | None:
    """The download half of a rate-limit's first pair or of a queue's max-limit, in Mbps:
    "50M/50M" → 50, "20000000/20000000" → 20."""
    first = rate_limit.split(" ", 1)[0]
    if "/" not in first:
        return None
    return _speed_mbps(first.split("/", 1)[1])


def _speed_mbps(text: str) -> float | None:
    """A speed as RouterOS or SmartOLT write it, in Mbps: "128k", "100M", "1G", "20000000"."""
    units = {"k": 0.001, "M": 1.0, "G": 1000.0}
    if text and text[-1] in units and text[:-1].isdigit():
        return float(text[:-1]) * units[text[-1]]
    return float(text) / 1_000_000 if text.isdigit() else None


def _dbm(value: Any) -> float | None:
    text = str(value or "").removesuffix(" dBm").strip()
    try:
        return float(text)
    except ValueError:
        return None


def _logged_out(value: str) -> datetime | None:
    """RouterOS 6 ("jan/02/2024 10:00:00") or 7 ("2024-01-02 10:00:00") dates."""
    if not value:
        return None
    if value[:3].lower() in MONTHS:
        month = MONTHS.index(value[:3].lower()) + 1
        return datetime.strptime(f"{month:02d}{value[3:]}", "%m/%d/%Y %H:%M:%S")
    return datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
