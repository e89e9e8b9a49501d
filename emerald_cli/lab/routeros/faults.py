"""How one lab router misbehaves: its fault mode and the knobs that shape it.

Each fault is one way a real router or the network in front of it fails an ISP's nightly sync.
`RouterLab.configure(name, fault=..., **options)` fills a `RouterBehaviour`; the session and the
listener read it on every new connection, so a test may change it between two syncs.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, fields, replace
from typing import Any

logger = logging.getLogger(__name__)

FAULT_HELP = {
    "refuse": "the port is bound but not listening: connection refused",
    "flaky": "resets (RST) the first `failures` connections right after accepting, then works",
    "tls_only": "api-ssl with anonymous DH (no certificate), TLS 1.2; nothing plain",
    "tls_cert": "api-ssl with a self-signed certificate made at start (see ca_path)",
    "silent": "accepts TCP and never answers anything",
    "silent_at_login": "accepts TCP and never answers, the login included (same as silent)",
    "silent_after_login": "logs in, then never answers a command",
    "close_after_login": "answers the login, then closes the connection",
    "pause_mid_reply": "sends `after_rows` rows of `menu`, waits `pause` seconds, goes on",
    "never_finishes": "sends `after_rows` rows of `menu`, then stalls forever",
    "close_mid_reply": "sends `after_rows` rows of `menu` and half a sentence, then closes",
    "fatal_mid_print": "sends `after_rows` rows of `menu`, then `!fatal <reason>` and closes",
    "reset_mid_table": "sends `after_rows` rows of `menu` and half a sentence, then RST",
    "wrong_password": "expects `expected_password` (default: the password + '-rotated')",
    "trickle": "sends every reply one byte every `byte_interval` seconds",
    "legacy_login": "pre-6.43 login: answers a plain login by a challenge, wants the MD5",
    "missing_menu": "`menu` (default /queue/simple) answers `no such command prefix`",
}
"""Every fault mode, with what a client meets; the options named are RouterBehaviour fields."""

FAULTS = tuple(FAULT_HELP)
# Faults that change the listening socket: a running lab reopens it on the same port.
LISTENER_FAULTS = ("refuse", "flaky", "tls_only", "tls_cert")
# Faults that cut into a print reply of `menu`, after `after_rows` rows, before `!done`.
MID_REPLY_FAULTS = (
    "pause_mid_reply",
    "never_finishes",
    "close_mid_reply",
    "fatal_mid_print",
    "reset_mid_table",
)

STYLES = ("v6", "v7.18")
PASSWORD_ENCODINGS = ("utf-8", "latin-1")
DEFAULT_FAULT_MENU = "/ppp/secret"
DEFAULT_MISSING_MENU = "/queue/simple"


@dataclass(frozen=True)
class RouterBehaviour:
    """Per-router settings; None means "the lab's default" or "derived from the router"."""

    fault: str | None = None
    # Reply style for an empty print: "v6" (`!done`) or "v7.18" (`!empty` + `!done`).
    style: str | None = None
    # Seconds slept before the first sentence of every reply; None takes the lab's latency.
    latency: float | None = None
    # This router's own API password (when it differs from the lab's shared one).
    password: str | None = None
    password_encoding: str = "utf-8"  # noqa: S105 (a code page, not a password)
    # The inventory's environment variable for `password`; derived from the name when unset.
    password_env: str | None = None
    # A fixed port for this router; 0 picks a free one (or the lab's base_port + index).
    port: int | None = None
    # The menu that `missing_menu` removes or that the mid-reply faults interrupt.
    menu: str | None = None
    # Rows sent before a mid-reply fault strikes; None means half of the matching rows.
    after_rows: int | None = None
    # Seconds that `pause_mid_reply` holds the reply.
    pause: float = 12.0
    # Seconds between two bytes for `trickle`.
    byte_interval: float = 0.2
    # Connections that `flaky` resets before it starts to answer.
    failures: int = 2
    # The password a `wrong_password` router expects instead of the right one.
    expected_password: str | None = None
    # The reason word of `fatal_mid_print`.
    reason: str = "session terminated on request"
    # The answer to a command sent before login: "trap" (`!trap not logged in`) or "fatal".
    unauthenticated: str = "trap"

    def updated(self, **settings: Any) -> RouterBehaviour:
        """A copy with `settings` applied; unknown names and values fail loudly."""
        known = {item.name for item in fields(self)}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise TypeError(f"unknown router setting(s): {', '.join(unknown)}")

        behaviour = replace(self, **settings)
        behaviour.check()
        return behaviour

    def check(self) -> None:
        if self.fault is not None and self.fault not in FAULTS:
            raise ValueError(f"unknown fault {self.fault!r}; known: {', '.join(FAULTS)}")
        if self.style is not None and self.style not in STYLES:
            raise ValueError(f"unknown reply style {self.style!r}; known: {', '.join(STYLES)}")
        if self.password_encoding not in PASSWORD_ENCODINGS:
            raise ValueError(f"password_encoding must be one of {PASSWORD_ENCODINGS}")
        if self.unauthenticated not in ("trap", "fatal"):
            raise ValueError("unauthenticated must be 'trap' or 'fatal'")

    @property
    def fault_menu(self) -> str:
        """The menu the fault acts on, with a default that suits the fault."""
        if self.menu:
            return self.menu
        return DEFAULT_MISSING_MENU if self.fault == "missing_menu" else DEFAULT_FAULT_MENU

    def rows_before_fault(self, total: int) -> int:
        if self.after_rows is not None:
            return max(0, min(self.after_rows, total))
        return total // 2 if total > 1 else 0


def reply_style(version: str, override: str | None) -> str:
    """RouterOS 7.18 and later answer an empty print with `!empty`; earlier ones do not."""
    if override is not None:
        return override
    numbers = re.findall(r"\d+", version.split(" ", 1)[0])
    release = tuple(int(number) for number in numbers[:2])
    return "v7.18" if release >= (7, 18) else "v6"


def default_password_env(router_name: str) -> str:
    """`router-001` → `EMERALD_ROUTER_PASSWORD_ROUTER_001`."""
    suffix = re.sub(r"[^A-Z0-9]+", "_", router_name.upper()).strip("_")
    return f"EMERALD_ROUTER_PASSWORD_{suffix}"
