"""SmartOLT's REST API as raw JSON records, spending as little of its hourly budget as possible.

SmartOLT limits calls per account and method (1,000 an hour, a handful of full exports) and can
revoke access after misuse, so calls are spaced to stay under its per-second rate, and a
rate-limit answer stops the stream at once; only a Retry-After of a few seconds (the
per-second burst limit) is waited for, never an answer that names the hourly limit, and no
more than half a minute per run in all.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Self

import requests

from emerald_cli.sources.errors import ApiError, RateLimited
from emerald_cli.sources.http import CallAllowance, JsonTransport, RetryPolicy
from emerald_cli.sources.streams import PageProgress, no_progress

logger = logging.getLogger(__name__)

VENDOR = "SmartOLT"
AUTH_HINT = "check EMERALD_SMARTOLT_TOKEN (the API key from Settings → API key)"
OLTS_PATH = "/system/get_olts"
ONUS_PATH = "/onu/get_all_onus_details"
STATUSES_PATH = "/onu/get_onus_statuses"
SIGNALS_PATH = "/onu/get_onus_signals"
MAX_PAGE_SIZE = 100
HARD_MAX_PAGES = 5000
LIMIT_WORDS = re.compile(r"\blimit|too many requests", re.IGNORECASE)
# A 429 that names the hour means the account's budget is spent: waiting seconds cannot help.
HOURLY_WORDS = re.compile(r"\bhour", re.IGNORECASE)
# Bursts cost a second or two; limits that go on longer than this are the budget running dry.
RATE_LIMIT_WAIT_MAX_S = 30.0
# SmartOLT serves about 10 calls a second and blocks bursts above 15: a large tenant's paged
# listing, fast enough, would run into the block page after page.
CALLS_PER_SECOND = 10


class SmartOLTClient:
    """Reads OLTs, ONUs, statuses and signals; one instance per sync, used by one thread.

    >>> SmartOLTClient("https://isp.smartolt.com/api", "token")
    SmartOLTClient(base_url='https://isp.smartolt.com/api', page_size=100, full_export=False)
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        page_size: int = MAX_PAGE_SIZE,
        full_export: bool = False,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        total_timeout: float = 300.0,
        retries: int = 3,
        backoff: float = 1.0,
        retry_after_max: float = 5.0,
        calls_per_second: float = CALLS_PER_SECOND,
        allowance: CallAllowance | None = None,
        session: requests.Session | None = None,
    ) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        self.base_url = base_url.rstrip("/")
        self.page_size = page_size
        self.full_export = full_export
        self._token = token
        self._transport = JsonTransport(
            VENDOR,
            self.base_url,
            session=session,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            total_timeout=total_timeout,
            policy=RetryPolicy(
                retries=retries,
                backoff=backoff,
                retry_after_max=retry_after_max,
                backoff_on_rate_limit=False,
                final_rate_limit=HOURLY_WORDS,
                rate_limit_wait_max=RATE_LIMIT_WAIT_MAX_S,
            ),
            auth_hint=AUTH_HINT,
            calls_per_second=calls_per_second,
            allowance=allowance,
        )
        self._transport.secrets = [token]

    def __repr__(self) -> str:
        return (
            f"SmartOLTClient(base_url={self.base_url!r}, page_size={self.page_size}, "
            f"full_export={self.full_export})"
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._transport.close()

    @property
    def requests_made(self) -> int:
        """HTTP requests sent so far, retries included."""
        return self._transport.requests_made

    def calls_made(self) -> tuple[int, int]:
        """Requests sent so far, and how many of them repeated one that failed."""
        return self._transport.requests_made, self._transport.retries_made

    def olts(self) -> list[dict[str, Any]]:
        return self._list(OLTS_PATH, self._get(OLTS_PATH), "response")

    def onus(self) -> list[dict[str, Any]]:
        """Every ONU with its details: paged (general budget) unless full export is configured."""
        return [onu for page in self.onu_pages() for onu in page]

    def onu_pages(self, progress: PageProgress = no_progress) -> Iterator[list[dict[str, Any]]]:
        """The ONUs a page at a time, as they arrive (the full export is one page); `progress`
        hears of each page, as the listing of a large tenant takes a while."""
        if self.full_export:
            onus = self._list(ONUS_PATH, self._get(ONUS_PATH), "onus")
            progress(len(onus), len(onus))
            yield onus
            return
        yield from self._paged_onus(progress)

    def statuses(self) -> list[dict[str, Any]]:
        return self._list(STATUSES_PATH, self._get(STATUSES_PATH), "response")

    def signals(self) -> list[dict[str, Any]]:
        return self._list(SIGNALS_PATH, self._get(SIGNALS_PATH), "response")

    def _paged_onus(self, progress: PageProgress) -> Iterator[list[dict[str, Any]]]:
        """The pages SmartOLT announced, checked to add up to its count.

        A listing that comes up short (an empty page before the last, or fewer ONUs than the
        first page announced: ONUs deleted while it was read shift the pages under it) fails:
        written, it would mark every ONU it missed as removed.
        """
        received = 0
        previous: list[Any] | None = None
        last_page = HARD_MAX_PAGES
        announced: int | None = None
        page = 1
        while page <= last_page:
            body = self._get(ONUS_PATH, {"page": page, "page_size": self.page_size})
            rows = self._list(ONUS_PATH, body, "onus")
            if page == 1:
                last_page = self._page_count(body)
                announced = _whole_number(body.get("total_items"))
            if not rows:
                if page < last_page:
                    raise self._short_listing(
                        f"page {page} of {last_page} empty", received, announced
                    )
                break

            if rows == previous:
                raise ApiError(
                    f"{VENDOR} returned the same page twice at {ONUS_PATH} (page {page}): "
                    "it ignores page; set full_export or report it to SmartOLT"
                )
            received += len(rows)
            progress(received, announced)
            yield rows
            previous = rows
            page += 1

        if announced is not None and received < announced:
            raise self._short_listing(f"all {last_page} pages read", received, announced)
        logger.debug("vendor=smartolt path=%s pages=%d onus=%d", ONUS_PATH, page - 1, received)

    def _short_listing(self, where: str, received: int, announced: int | None) -> ApiError:
        of = f" of {announced}" if announced is not None else ""
        return ApiError(
            f"{VENDOR} ended the ONU listing short at {ONUS_PATH} ({where}, {received}{of} "
            "ONUs): ONUs changed while it was read, or the service is failing; nothing was "
            "written, try again",
            retryable=False,
        )

    def _page_count(self, body: dict[str, Any]) -> int:
        total = _whole_number(body.get("total_pages"))
        if total is None:
            raise ApiError(
                f"{VENDOR} answered {ONUS_PATH} paged without a total_pages count: "
                "the API changed; set full_export or report it to SmartOLT"
            )
        if total > HARD_MAX_PAGES:
            raise ApiError(
                f"{VENDOR} announced {total} pages at {ONUS_PATH}, more than {HARD_MAX_PAGES}: "
                "the answer is not plausible; report it to SmartOLT"
            )
        return total

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        headers = {"X-Token": self._token, "Accept": "application/json"}
        body = self._transport.call("GET", path, params=params, headers=headers)
        if isinstance(body, dict) and body.get("status") is False:
            raise self._refusal(path, body)
        return body

    def _refusal(self, path: str, body: dict[str, Any]) -> ApiError | RateLimited:
        method = path.rsplit("/", 1)[-1]
        error = body.get("error")
        text = " ".join(str(error).split())[:120] if error else "no reason given"
        if LIMIT_WORDS.search(text) and HOURLY_WORDS.search(text):
            # This answer names no time; SmartOLT's budgets are hourly, so the next hour is safe.
            return RateLimited(
                method,
                datetime.now(UTC) + timedelta(hours=1),
                message=f"{VENDOR} rate limit reached for {method} (200 with {text!r}): "
                "calls stopped; try again next hour or poll less often",
            )
        if LIMIT_WORDS.search(text):
            # A limit that names no hour is the per-second one: the next run can go on.
            return RateLimited(
                method,
                datetime.now(UTC) + timedelta(minutes=1),
                message=f"{VENDOR} rate limit reached for {method} (200 with {text!r}): "
                "calls stopped; try again in a minute, or set [smartolt] full_export = true "
                "for a large tenant",
            )
        return ApiError(
            f"{VENDOR} refused {path} ({text!r}): check the request and the account's API access"
        )

    def _list(self, path: str, body: Any, key: str) -> list[dict[str, Any]]:
        rows = body.get(key) if isinstance(body, dict) else None
        if not isinstance(rows, list):
            raise ApiError(
                f"{VENDOR} answered {path} without a {key!r} array: the API changed; "
                "report it with the SmartOLT version"
            )
        return rows


def listing_calls(onus: int, page_size: int, full_export: bool) -> int:
    """The calls a listing of `onus` ONUs costs: one per page, or the one full export."""
    return 1 if full_export else max(1, -(-onus // page_size))


def _whole_number(value: Any) -> int | None:
    """A count SmartOLT sent as a number or as text (it sends most numbers as text)."""
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None
