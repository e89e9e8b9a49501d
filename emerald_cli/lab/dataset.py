"""The lab's seeded world: routers, their PPP tables and queues, as RouterOS would print them.

Every lab server (RouterOS, ISPCube, SmartOLT) is built from one `Fleet`, so the three sources
agree with each other except where a mismatch is seeded on purpose. The same seed always gives
the same fleet, byte for byte, which is what lets tests compare a sync with the lab exactly.

Values are kept as the wire strings RouterOS sends ("true", "0", "1w2d3h4m5s"); nothing here
is typed, because the product must prove that it stores what the router sent.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field

PROFILES = (
    ("default", "", "", "", "true"),
    ("FIBRA-50", "10.20.0.1", "pool-clientes", "50M/50M", "false"),
    ("FIBRA-100", "10.20.0.1", "pool-clientes", "100M/100M 120M/120M 80M/80M 16/16", "false"),
    ("FIBRA-300", "10.20.0.1", "pool-clientes", "300M/300M", "false"),
    ("CORTE", "10.20.0.1", "pool-cortados", "128k/128k", "false"),
)
"""name, local-address, remote-address, rate-limit, default flag."""

# Names that a careless client turns into numbers or booleans; the product must keep them.
TRICKY_NAMES = ("0000", "00123", "10045", "true")

# Comments with an ñ: the lab sends them in the router's own code page (see LabRouter.encoding).
SPANISH_COMMENTS = ("Peña 100", "Muñoz y Cía.", "Castañeda 2140", "Ñandú 7")

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")

DISCONNECT_REASONS = ("peer-request", "hung-up", "idle-timeout", "session-timeout", "reset")

# A session's uptime as the lab writes it: days, then a clock.
SESSION_UPTIME = re.compile(r"(\d+)d(\d{2}):(\d{2}):(\d{2})")

# Comments long enough for the API's 2-byte (> 127 bytes) and 3-byte (> 16,383) length prefixes.
MEDIUM_COMMENT_EVERY = 25  # secrets 12, 37, 62, ... of every router
LONG_COMMENT_ROUTER = 1
LONG_COMMENT_SECRET = 2


@dataclass
class LabRouter:
    """One simulated router: identity, resource row and its menus as RouterOS prints them.

    `encoding` is the code page its text was written in: "utf-8" (WebFig, scripts) or
    "latin-1" (Winbox on a Windows box), so one ñ reaches the wire as b"\\xc3\\xb1" or b"\\xf1".
    """

    index: int
    name: str
    version: str
    board: str
    uptime: str
    encoding: str
    secrets: list[dict[str, str]] = field(default_factory=list)
    active: list[dict[str, str]] = field(default_factory=list)
    profiles: list[dict[str, str]] = field(default_factory=list)
    queues: list[dict[str, str]] = field(default_factory=list)
    # Seconds since `active` was listed: printed sessions are that much older, as on a real
    # router, whose uptimes grow every second. Always 0 unless the lab is told otherwise.
    session_age: Callable[[], float] = field(default=lambda: 0.0, repr=False, compare=False)

    @property
    def major_version(self) -> int:
        return int(self.version.split(".", 1)[0])

    def identity_row(self) -> dict[str, str]:
        return {"name": self.name}

    def resource_row(self) -> dict[str, str]:
        return {
            "uptime": self.uptime,
            "version": self.version,
            "board-name": self.board,
            "architecture-name": "arm64",
            "platform": "MikroTik",
            "cpu-count": "4",
            "cpu-load": str(3 + self.index % 40),
            "free-memory": "805306368",
            "total-memory": "1073741824",
        }

    def menu(self, path: str) -> list[dict[str, str]] | None:
        """Rows of a print command, or None when this router has no such menu."""
        menus = {
            "/system/identity": [self.identity_row()],
            "/system/resource": [self.resource_row()],
            "/ppp/secret": self.secrets,
            "/ppp/active": self.active_rows(),
            "/ppp/profile": self.profiles,
            "/queue/simple": self.queues,
        }
        return menus.get(path)

    def active_rows(self) -> list[dict[str, str]]:
        """The sessions, each as old as `session_age` makes it."""
        age = int(self.session_age())
        if not age:
            return self.active
        return [{**row, "uptime": _older(row["uptime"], age)} for row in self.active]


def _older(uptime: str, seconds: int) -> str:
    parts = SESSION_UPTIME.fullmatch(uptime)
    if parts is None:
        return uptime
    days, hours, minutes, rest = map(int, parts.groups())
    total = days * 86_400 + hours * 3_600 + minutes * 60 + rest + seconds
    days, total = divmod(total, 86_400)
    hours, total = divmod(total, 3_600)
    minutes, rest = divmod(total, 60)
    return f"{days}d{hours:02d}:{minutes:02d}:{rest:02d}"


@dataclass
class Fleet:
    """All lab routers built from one seed."""

    seed: int
    routers: list[LabRouter]

    def router(self, name: str) -> LabRouter:
        for router in self.routers:
            if router.name == name:
                return router
        raise KeyError(name)


def router_name(index: int) -> str:
    return f"router-{index:03d}"


def secret_name(router_index: int, number: int) -> str:
    """PPPoE user names are unique across the fleet, as an ISP's billing requires."""
    return f"pp-{router_index:03d}-{number:05d}"


def build_fleet(seed: int = 7, routers: int = 3, secrets: int = 20) -> Fleet:
    """Build `routers` routers of `secrets` PPP secrets each, deterministically from `seed`."""
    rng = random.Random(seed)
    return Fleet(seed=seed, routers=[_build_router(rng, i, secrets) for i in range(routers)])


def _build_router(rng: random.Random, index: int, secret_count: int) -> LabRouter:
    version = rng.choice(("6.49.10 (long-term)", "7.15.3 (stable)", "7.18.2 (stable)"))
    router = LabRouter(
        index=index,
        name=router_name(index),
        version=version,
        board=rng.choice(("CCR2004-1G-12S+2XS", "CCR1036-8G-2S+", "RB4011iGS+")),
        uptime=f"{rng.randint(0, 9)}w{rng.randint(0, 6)}d{rng.randint(0, 23):02d}:"
        f"{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}",
        encoding="latin-1" if index % 2 else "utf-8",
    )
    router.profiles = [_profile_row(n, *row) for n, row in enumerate(PROFILES)]

    for number in range(secret_count):
        name = _pick_name(index, number)
        router.secrets.append(_secret_row(rng, router, number, name))

    for number, secret in enumerate(router.secrets):
        if rng.random() < 0.6:
            router.active.append(_active_row(rng, number, secret))

    # RouterOS makes a dynamic queue for a session whose profile has a rate-limit; the lab
    # keeps one session in three that has one, limited as its profile says.
    rates = {name: rate for name, _, _, rate, _ in PROFILES if rate}
    profile_of = {secret["name"]: secret["profile"] for secret in router.secrets}
    for number, session in enumerate(router.active):
        rate = rates.get(profile_of[session["name"]])
        if number % 3 == 0 and rate:
            limit = queue_limit(rate)
            router.queues.append(_queue_row(number, session["name"], session["address"], limit))
    return router


def queue_limit(rate_limit: str) -> str:
    """A profile's rate-limit as a queue's max-limit, in bits/s: "50M/50M" → "50000000/50000000".

    The first pair of a rate-limit is rx/tx as the router sees it, which is what a dynamic
    queue's upload/download limit is for the customer.
    """
    units = {"k": 1_000, "M": 1_000_000, "G": 1_000_000_000}
    pair = rate_limit.split(" ", 1)[0].split("/")
    bits = [
        int(value[:-1]) * units[value[-1]] if value[-1] in units else int(value) for value in pair
    ]
    return "/".join(map(str, bits))


def _pick_name(router_index: int, number: int) -> str:
    # The first router carries the names that look like numbers or booleans.
    if router_index == 0 and number < len(TRICKY_NAMES):
        return TRICKY_NAMES[number]
    return secret_name(router_index, number)


def _profile_row(
    number: int, name: str, local: str, remote: str, rate: str, default: str
) -> dict[str, str]:
    row = {
        ".id": f"*{number:X}",
        "name": name,
        "local-address": local,
        "remote-address": remote,
        "only-one": "default" if default == "true" else "yes",
        "default": default,
    }
    if rate:
        row["rate-limit"] = rate
    if name == "CORTE":
        row["address-list"] = "morosos"
    return row


def _secret_row(rng: random.Random, router: LabRouter, number: int, name: str) -> dict[str, str]:
    profile = rng.choice(("FIBRA-50", "FIBRA-100", "FIBRA-300", "CORTE", "default"))
    row = {
        ".id": f"*{0x1000 + number:X}",
        "name": name,
        "service": "pppoe" if number % 17 else "any",
        "caller-id": "",
        "password": f"lab-secret-{router.index}-{number}",
        "profile": profile,
        "limit-bytes-in": "0",
        "limit-bytes-out": "0",
        "last-logged-out": _last_logged_out(rng, router.major_version),
        "last-caller-id": _mac(router.index, number),
        "last-disconnect-reason": rng.choice(DISCONNECT_REASONS),
        "disabled": "true" if number % 11 == 5 else "false",
    }
    if number % 7 == 3:
        row["remote-address"] = (
            f"10.{20 + router.index // 250}.{router.index % 250}.{number % 250}"
        )
    if number % 5 == 1:
        row["comment"] = SPANISH_COMMENTS[number % len(SPANISH_COMMENTS)]
    elif number % 5 == 2:
        row["comment"] = f"cliente {number}"
    if number % MEDIUM_COMMENT_EVERY == 12:
        row["comment"] = f"cliente {number}; " + "instalación en calle Peñaloza, " * 6
    if router.index == LONG_COMMENT_ROUTER and number == LONG_COMMENT_SECRET:
        row["comment"] = "; ".join(f"visita técnica {n}: cambio de ONU" for n in range(600))
    return row


def _last_logged_out(rng: random.Random, major: int) -> str:
    month = rng.randint(1, 12)
    day = rng.randint(1, 28)
    clock = f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"
    if major < 7:
        return f"{MONTHS[month - 1]}/{day:02d}/2024 {clock}"
    return f"2024-{month:02d}-{day:02d} {clock}"


def _active_row(rng: random.Random, number: int, secret: dict[str, str]) -> dict[str, str]:
    return {
        ".id": f"*{0x80000000 + number:X}",
        "name": secret["name"],
        "service": "pppoe",
        "caller-id": secret["last-caller-id"],
        "address": f"10.20.{number // 250}.{number % 250 + 2}",
        "uptime": f"{rng.randint(0, 5)}d{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00",
        "encoding": "",
        "session-id": f"0x{0x81000000 + number:X}",
        "limit-bytes-in": "0",
        "limit-bytes-out": "0",
        "radius": "false",
    }


def _queue_row(number: int, user: str, address: str, limit: str) -> dict[str, str]:
    return {
        ".id": f"*{0x500 + number:X}",
        "name": f"<pppoe-{user}>",
        "target": f"{address}/32",
        "parent": "none",
        "priority": "8/8",
        "queue": "default-small/default-small",
        "limit-at": "0/0",
        "max-limit": limit,
        "burst-limit": "0/0",
        "burst-threshold": "0/0",
        "burst-time": "0s/0s",
        "disabled": "false",
        "invalid": "false",
        "dynamic": "true",
    }


def _mac(router_index: int, number: int) -> str:
    return f"02:00:{router_index // 256:02X}:{router_index % 256:02X}:" + (
        f"{number // 256 % 256:02X}:{number % 256:02X}"
    )
