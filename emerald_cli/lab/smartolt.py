"""A fake SmartOLT on loopback: X-Token, the bulk ONU endpoints and the account's rate limits.

Limits are token buckets per account and method, timed by an injectable clock so a test can
live through an hour of polling without sleeping. It reproduces what is known of the real
API: GET calls with the key in X-Token, {"status": true, "response": [...]} envelopes, the
ONU export whole or paged (page, page_size up to 100, total_items, total_pages), and
{"status": false, "error": ...} refusals, over a limit sent with 429 or 403 and Retry-After,
or with 200.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import ClassVar, Literal

from emerald_cli.lab.billing import Billing
from emerald_cli.lab.saas import Clock, Fault, LabReply, LabRequest, LabServer

logger = logging.getLogger(__name__)

HOUR = 3600.0
MAX_PAGE_SIZE = 100
HOURLY_LIMIT_TEXT = "You have reached the hourly limit for this method"
# SmartOLT's wording for the per-second limit is not known; the lab's only names no hour.
BURST_LIMIT_TEXT = "Too many requests, slow down"
FULL_EXPORT = "get_all_onus_details (full export)"


class TokenBucket:
    """`capacity` calls at once, refilled at `capacity` per `period` seconds of `clock`."""

    def __init__(self, capacity: float, period: float, clock: Clock) -> None:
        self.capacity = capacity
        self.rate = capacity / period
        self.clock = clock
        self.tokens = float(capacity)
        self.updated = clock()

    def refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def wait_for_one(self) -> float:
        """Seconds until one call is allowed (0 when it is now)."""
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate


@dataclass
class _Limit:
    name: str
    bucket: TokenBucket


class SmartOLTLab(LabServer):
    """The SmartOLT API of one account at `url` (…/api).

    Every call spends one token of the hourly budget and of the burst bucket; a full export
    (get_all_onus_details without `page`) also one of its own small hourly bucket. Over a
    limit the answer is 429 + Retry-After or, with rate_limit_style "403", 403 + Retry-After
    (a form SmartOLT also uses), or, with "200", a 200 with
    {"status": false, "error": "...hourly limit..."}.

    Signal rows carry the ONU's SN and PON position, as in the reference sample; with
    signal_positions=False only what SmartOLT documents: the id and the three levels.
    """

    vendor: ClassVar[str] = "SmartOLT"
    paths: ClassVar[dict[str, str]] = {
        "olts": "/api/system/get_olts",
        "onus": "/api/onu/get_all_onus_details",
        "statuses": "/api/onu/get_onus_statuses",
        "signals": "/api/onu/get_onus_signals",
    }

    def __init__(
        self,
        billing: Billing,
        token: str,
        *,
        full_export_per_hour: int = 15,
        hourly_budget: int = 1000,
        burst_per_s: int = 15,
        rate_limit_style: Literal["429", "403", "200"] = "429",
        clock: Clock = time.monotonic,
        host: str = "127.0.0.1",
        port: int = 0,
        trickle_interval: float = 2.0,
        latency: float = 0.0,
        signal_positions: bool = True,
    ) -> None:
        super().__init__(host, port, trickle_interval, latency)
        self.billing = billing
        self.signal_positions = signal_positions
        self.token = token
        self.rate_limit_style = rate_limit_style
        self.clock = clock
        self.rate_limited_answers = 0
        self._limits_lock = threading.Lock()
        self._hourly = TokenBucket(hourly_budget, HOUR, clock)
        self._burst = TokenBucket(burst_per_s, 1.0, clock)
        self._full_export = TokenBucket(full_export_per_hour, HOUR, clock)

    def __repr__(self) -> str:
        return f"SmartOLTLab(url={self.url!r})"

    def error_reply(self, status: int) -> LabReply:
        return LabReply.json(status, {"status": False, "error": "Internal server error"})

    def route(self, request: LabRequest, fault: Fault | None) -> LabReply:
        if request.header("x-token") != self.token:
            return LabReply.json(403, {"status": False, "error": "Invalid or missing API key"})
        if request.method != "GET" or request.path not in self.paths.values():
            return LabReply.json(405, {"status": False, "error": "Unknown method"})

        full_export = request.path == self.paths["onus"] and "page" not in request.query
        limited = self._spend(full_export)
        if limited is not None:
            return self._rate_limited(*limited)

        if full_export:
            return LabReply.json(200, {"status": True, "onus": self.billing.onu_details()})
        if request.path == self.paths["onus"]:
            return self._onu_page(request)
        listings = {
            self.paths["olts"]: lambda: self.billing.olts,
            self.paths["statuses"]: self.billing.statuses,
            self.paths["signals"]: lambda: self.billing.signals(positions=self.signal_positions),
        }
        rows = listings[request.path]()
        return LabReply.json(200, {"status": True, "response_code": "success", "response": rows})

    def _spend(self, full_export: bool) -> tuple[float, str] | None:
        """Take one call from every bucket that applies; or the seconds until that is possible,
        and what to say: only an hourly bucket that is empty names the hourly limit."""
        hourly = [self._hourly] + ([self._full_export] if full_export else [])
        buckets = [*hourly, self._burst]
        with self._limits_lock:
            now = self.clock()
            for bucket in buckets:
                bucket.refill(now)
            wait = max(bucket.wait_for_one() for bucket in buckets)
            if wait > 0:
                self.rate_limited_answers += 1
                spent = any(bucket.wait_for_one() > 0 for bucket in hourly)
                return wait, HOURLY_LIMIT_TEXT if spent else BURST_LIMIT_TEXT
            for bucket in buckets:
                bucket.tokens -= 1
            return None

    def _rate_limited(self, wait: float, text: str) -> LabReply:
        body = {"status": False, "error": text}
        if self.rate_limit_style == "200":
            return LabReply.json(200, body)
        retry_after = str(max(1, math.ceil(wait)))
        return LabReply.json(int(self.rate_limit_style), body, {"Retry-After": retry_after})

    def _onu_page(self, request: LabRequest) -> LabReply:
        page = _number(request.query.get("page"))
        size = _number(request.query.get("page_size", str(MAX_PAGE_SIZE)))
        if page is None or page < 1 or size is None or not 1 <= size <= MAX_PAGE_SIZE:
            return LabReply.json(
                400,
                {"status": False, "error": "page must be >= 1 and page_size between 1 and 100"},
            )

        total = len(self.billing.onus)
        start = (page - 1) * size
        return LabReply.json(
            200,
            {
                "page": page,
                "page_size": size,
                "total_items": total,
                "total_pages": math.ceil(total / size),
                "onus": self.billing.onu_details(start, start + size),
            },
        )


def _number(value: str | None) -> int | None:
    if value is None or not value.strip().lstrip("-").isdigit():
        return None
    return int(value)
