"""A fake ISPCube on loopback: Sanctum token, the four bulk lists, and the ways they fail.

It serves the Billing object live, so a test may change the data between two syncs. It
reproduces what is known of the real tenant: a POST login with api-key, client-id and
login-type headers answered with a bearer token, bare JSON arrays for the lists, customers
paged by limit and offset with no total, nodes bare or in a "data" envelope, 401
{"message": "Unauthenticated."} for a token it no longer takes, and a slow unpaged customer
list; `fault()` injects the failures.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from dataclasses import dataclass
from http.client import responses
from typing import Any, ClassVar, Literal

from emerald_cli.lab.billing import Billing
from emerald_cli.lab.saas import Clock, Fault, LabReply, LabRequest, LabServer

logger = logging.getLogger(__name__)

UNAUTHENTICATED = {"message": "Unauthenticated."}
# What a Laravel API such as ISPCube's says with each status a fault injects, so a client
# shows the words it will meet; any other 4xx carries its reason phrase.
LARAVEL_ERRORS: dict[int, dict[str, Any]] = {
    401: UNAUTHENTICATED,
    403: {"message": "This action is unauthorized."},
    404: {"message": "Not Found"},
    422: {"message": "The given data was invalid.", "errors": {}},
    429: {"message": "Too Many Attempts."},
}


@dataclass
class _Token:
    issued: float
    uses: int = 0


class ISPCubeLab(LabServer):
    """The ISPCube API of one tenant at `url` (…/api).

    `token_ttl` (seconds of `clock`) and `expire_token_after` (data requests per token) make
    tokens expire mid-run; `page_limit` silently caps `limit`, as a server might.
    """

    vendor: ClassVar[str] = "ISPCube"
    paths: ClassVar[dict[str, str]] = {
        "token": "/api/sanctum/token",
        "customers": "/api/customers/customers_list",
        "connections": "/api/connections/connections_list",
        "plans": "/api/plans/plans_list",
        "nodes": "/api/nodes/nodes_list",
    }
    offset_lists: ClassVar[tuple[str, ...]] = ("customers",)

    def __init__(
        self,
        billing: Billing,
        api_key: str,
        client_id: str,
        username: str,
        password: str,
        *,
        token_ttl: float | None = None,
        expire_token_after: int | None = None,
        page_limit: int | None = None,
        nodes_envelope: Literal["bare", "data"] = "bare",
        unpaged_delay: float = 3.0,
        clock: Clock = time.monotonic,
        host: str = "127.0.0.1",
        port: int = 0,
        trickle_interval: float = 2.0,
        latency: float = 0.0,
    ) -> None:
        super().__init__(host, port, trickle_interval, latency)
        self.billing = billing
        self.api_key = api_key
        self.client_id = str(client_id)
        self.username = username
        self.password = password
        self.token_ttl = token_ttl
        self.page_limit = page_limit
        self.nodes_envelope = nodes_envelope
        self.unpaged_delay = unpaged_delay
        self.clock = clock
        self.expire_token_after = expire_token_after
        self.tokens_issued = 0
        self._tokens: dict[str, _Token] = {}

    def __repr__(self) -> str:
        return f"ISPCubeLab(url={self.url!r}, username={self.username!r})"

    def error_reply(self, status: int) -> LabReply:
        if status >= 500:
            return super().error_reply(status)  # Laravel hides every 5xx as "Server Error"
        document = LARAVEL_ERRORS.get(status) or {"message": responses.get(status, "Error")}
        return LabReply.json(status, document)

    def route(self, request: LabRequest, fault: Fault | None) -> LabReply:
        if request.path == self.paths["token"]:
            return self._login(request)
        if request.path not in self.paths.values():
            return LabReply.json(404, {"message": "Not Found"})
        if not self._authorised(request):
            return LabReply.json(401, UNAUTHENTICATED)

        if request.path == self.paths["customers"]:
            return self._customers(request, fault)
        listings = {
            self.paths["connections"]: lambda: self.billing.connections,
            self.paths["plans"]: lambda: self.billing.plans,
            self.paths["nodes"]: self._nodes,
        }
        return LabReply.json(200, listings[request.path]())

    def _nodes(self) -> Any:
        if self.nodes_envelope == "data":
            return {"data": self.billing.nodes}
        return self.billing.nodes

    def _login(self, request: LabRequest) -> LabReply:
        if request.method != "POST":
            return LabReply.json(405, {"message": "The GET method is not supported."})
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            body = {}
        good = (
            request.header("api-key") == self.api_key
            and request.header("client-id") == self.client_id
            and request.header("login-type") == "api"
            and isinstance(body, dict)
            and body.get("username") == self.username
            and body.get("password") == self.password
        )
        if not good:
            return LabReply.json(401, {"message": "These credentials do not match our records."})

        token = f"{len(self._tokens) + 1}|{secrets.token_hex(20)}"
        with self._lock:
            self._tokens[token] = _Token(self.clock())
            self.tokens_issued += 1
        return LabReply.json(200, {"token": token})

    def _authorised(self, request: LabRequest) -> bool:
        authorization = request.header("authorization") or ""
        if not authorization.startswith("Bearer "):
            return False
        if request.header("api-key") != self.api_key:
            return False
        if request.header("client-id") != self.client_id:
            return False

        with self._lock:
            token = self._tokens.get(authorization.removeprefix("Bearer "))
            if token is None:
                return False
            expired_by_age = (
                self.token_ttl is not None and self.clock() - token.issued > self.token_ttl
            )
            expired_by_use = (
                self.expire_token_after is not None and token.uses >= self.expire_token_after
            )
            token.uses += 1
            return not (expired_by_age or expired_by_use)

    def _customers(self, request: LabRequest, fault: Fault | None) -> LabReply:
        rows = self.billing.customers
        limit = _number(request.query.get("limit"))
        if limit is None:
            # The real tenant times out on an unpaged list; this one is merely slow.
            self.wait(self.unpaged_delay)
            return LabReply.json(200, rows)

        if self.page_limit is not None:
            limit = min(limit, self.page_limit)
        offset = _number(request.query.get("offset")) or 0
        mode = fault.mode if fault else None
        if mode == "repeat_page":
            offset = 0
        page = rows[offset : offset + limit]
        if mode == "endless" and len(page) < limit:
            page = page + [_endless_row(rows, offset + n) for n in range(len(page), limit)]
        return LabReply.json(200, page)


def _number(value: str | None) -> int | None:
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


def _endless_row(rows: list[dict[str, Any]], position: int) -> dict[str, Any]:
    template = rows[position % len(rows)] if rows else {"status": "enabled"}
    return dict(template, id=900000 + position, code=f"{900000 + position:06d}")
