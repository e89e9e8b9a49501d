"""The menus one poll reads, and the attributes asked of each through `.proplist`.

Asking for named attributes keeps the router from computing slow ones and, above all, keeps
the PPP secrets' passwords off the wire: `password` is never in a list below. Traffic
counters are left out too, because they change every second and would make every row look
changed on every run.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Menu:
    """A RouterOS menu to print, named by the table its rows become."""

    table: str
    path: str
    attributes: tuple[str, ...]

    @property
    def proplist(self) -> str:
        return "=.proplist=" + ",".join(self.attributes)


IDENTITY = Menu("identity", "/system/identity", ("name",))
RESOURCE = Menu("resource", "/system/resource", ("uptime", "version", "board-name"))

TABLE_MENUS = (
    Menu(
        "ppp_secrets",
        "/ppp/secret",
        (
            ".id", "name", "service", "caller-id", "profile", "local-address",
            "remote-address", "routes", "ipv6-routes", "remote-ipv6-prefix",
            "limit-bytes-in", "limit-bytes-out", "last-logged-out", "last-caller-id",
            "last-disconnect-reason", "disabled", "comment",
        ),
    ),
    Menu(
        "ppp_active",
        "/ppp/active",
        (
            ".id", "name", "service", "caller-id", "address", "uptime", "encoding",
            "session-id", "limit-bytes-in", "limit-bytes-out", "radius", "comment",
        ),
    ),
    Menu(
        "ppp_profiles",
        "/ppp/profile",
        (
            ".id", "name", "local-address", "remote-address", "rate-limit", "only-one",
            "address-list", "dns-server", "session-timeout", "idle-timeout", "parent-queue",
            "default", "comment",
        ),
    ),
    Menu(
        "queues",
        "/queue/simple",
        (
            ".id", "name", "target", "parent", "priority", "queue", "limit-at", "max-limit",
            "burst-limit", "burst-threshold", "burst-time", "disabled", "dynamic", "invalid",
            "comment",
        ),
    ),
)  # fmt: skip
