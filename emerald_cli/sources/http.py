"""One JSON request to a SaaS API, with the deadlines, retries and error mapping both share.

ISPCube and SmartOLT differ in headers and envelopes but fail the same ways: resets, hangs,
trickling bodies, 5xx, rate limits and HTML pages where JSON was promised. Handling those once
keeps each client about its API. A transport is used by one thread at a time.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import random
import re
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import orjson
import requests
import tenacity
import urllib3

from emerald_cli.logs import REDACTOR
from emerald_cli.sources.errors import (
    ApiError,
    AuthFailed,
    Forbidden,
    RateLimited,
    SourceError,
    Timeout,
    Unreachable,
)

logger = logging.getLogger(__name__)

CHUNK_BYTES = 65536
DEFAULT_PORTS = {"http": 80, "https": 443}
SNIPPET_CHARS = 60


@dataclass(frozen=True)
class Reply:
    """A complete HTTP answer, read within the deadline."""

    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class CallAllowance:
    """At most `calls` requests (retries included), for a vendor whose budget is counted in
    calls: past it a request is not sent but refused as rate limited until `renews_at`.
    `setting` names what an operator changes for more."""

    calls: int
    renews_at: datetime | None
    setting: str


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: `retries` extra attempts, exponential backoff with jitter.

    A rate-limit answer is retried only when its Retry-After is at most `retry_after_max`
    seconds, or, with `backoff_on_rate_limit`, when it gives no hint at all; never when its
    body matches `final_rate_limit` (the vendor says the budget is spent, not that calls came
    too fast), nor once the transport has waited `rate_limit_wait_max` seconds on rate limits
    in all: a service limiting call after call is answering at its sustained rate, and a run
    that kept waiting on it would crawl for minutes while looking healthy.
    """

    retries: int = 3
    backoff: float = 1.0
    backoff_max: float = 30.0
    retry_after_max: float = 60.0
    backoff_on_rate_limit: bool = True
    final_rate_limit: re.Pattern[str] | None = None
    rate_limit_wait_max: float = 120.0


class JsonTransport:
    """Sends requests to one base URL and returns decoded JSON, or raises a SourceError."""

    def __init__(
        self,
        vendor: str,
        base_url: str,
        *,
        session: requests.Session | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        total_timeout: float = 300.0,
        policy: RetryPolicy | None = None,
        auth_hint: str = "check the credentials",
        calls_per_second: float | None = None,
        allowance: CallAllowance | None = None,
    ) -> None:
        self.vendor = vendor
        self.base_url = base_url.rstrip("/")
        self.address = _address(self.base_url)
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.total_timeout = total_timeout
        self.policy = policy or RetryPolicy()
        self.auth_hint = auth_hint
        self.requests_made = 0
        self.retries_made = 0
        self.secrets: list[str] = []
        self._owns_session = session is None
        self.session = session if session is not None else requests.Session()
        self._hint: float | None = None
        self.rate_limit_waited = 0.0
        self._spacing = 1.0 / calls_per_second if calls_per_second else 0.0
        self._last_sent = float("-inf")
        self.allowance = allowance

    def close(self) -> None:
        if self._owns_session:
            self.session.close()

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        json_body: Any = None,
    ) -> Any:
        """The decoded JSON of a 2xx answer to `method path`, after the retries that can help.

        A service that still did not answer (no connection, a timeout, a connection dropped
        mid-answer) once the retries are spent stops the run's calls to it: every later call
        would most likely wait out the same retries, holding the run and its lock for nothing.
        """
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.policy.retries + 1),
            retry=tenacity.retry_if_exception(_is_retryable),
            wait=self._wait,
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            return retrying(self._attempt, method, path, params, headers, json_body)
        except (Unreachable, Timeout) as error:
            error.stops_source = True
            raise

    def _attempt(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        json_body: Any,
    ) -> Any:
        self._hint = None
        reply = self._send(method, path, params, headers, json_body)

        self._raise_for_status(path, reply)

        return self._decode(path, reply)

    def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        json_body: Any,
    ) -> Reply:
        url = self.base_url + path
        self._within_allowance(path)
        self._pace()
        self.requests_made += 1
        started = time.monotonic()
        try:
            with self.session.request(
                method,
                url,
                params=params,
                headers=headers,
                json=json_body,
                timeout=(self.connect_timeout, self.read_timeout),
                stream=True,
                allow_redirects=False,
            ) as response:
                body = self._read_body(response, path, started)
                return Reply(response.status_code, response.headers, body)
        except requests.exceptions.ConnectTimeout:
            raise Unreachable(
                f"{self.vendor} did not accept a connection at {self.address} within "
                f"{self.connect_timeout:g}s for {path}: check the base URL and the network"
            ) from None
        except (requests.exceptions.ReadTimeout, urllib3.exceptions.ReadTimeoutError):
            raise Timeout(
                f"{self.vendor} did not answer {path} within {self.read_timeout}s: "
                "the service is slow or down; try again later"
            ) from None
        except (
            requests.exceptions.RequestException,
            urllib3.exceptions.HTTPError,
            OSError,
        ) as error:
            cause = _cause(error)
            if _no_connection(error):
                raise Unreachable(
                    f"{self.vendor} could not be reached at {self.address} for {path} "
                    f"({cause}): check the base URL and the network"
                ) from None
            raise Unreachable(
                f"{self.vendor} dropped the connection at {self.address} mid-answer to {path} "
                f"({cause}): the service or the network is failing; try again later"
            ) from None

    def _within_allowance(self, path: str) -> None:
        allowance = self.allowance
        if allowance is None or self.requests_made < allowance.calls:
            return

        method = path.rsplit("/", 1)[-1]
        when = f"after {_when(allowance.renews_at)}" if allowance.renews_at else "later"
        raise RateLimited(
            method,
            allowance.renews_at,
            message=f"{self.vendor} call budget spent before {method}: this run may send "
            f"{allowance.calls} calls of the hourly budget ({allowance.setting}) and sent them; "
            f"calls stopped, try again {when}",
        )

    def _pace(self) -> None:
        """Keep to `calls_per_second`: staying under a vendor's rate is cheaper than being
        told off by it, which costs a Retry-After wait or the rest of the run."""
        wait = self._last_sent + self._spacing - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._last_sent = time.monotonic()

    def _read_body(self, response: requests.Response, path: str, started: float) -> bytes:
        # read1 returns whatever arrived, so a body trickling in still meets the deadline.
        chunks = []
        received = 0
        while True:
            chunk = response.raw.read1(CHUNK_BYTES, decode_content=True)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            received += len(chunk)
            if time.monotonic() - started > self.total_timeout:
                raise Timeout(
                    f"{self.vendor} sent {path} too slowly ({received} bytes in "
                    f"{self.total_timeout:g}s): the service is overloaded; try again later"
                )

    def _raise_for_status(self, path: str, reply: Reply) -> None:
        status = reply.status
        if 200 <= status < 300:
            return

        detail = self._detail(reply.body)
        # SmartOLT answers its limits with 403 as well as 429; the Retry-After tells them apart
        # from a refused key, and waiting, not new credentials, is what helps.
        if status == 429 or (status == 403 and "Retry-After" in reply.headers):
            raise self._rate_limited(path, reply)
        if status in (401, 403):
            refused = Forbidden if status == 403 else AuthFailed
            raise refused(
                f"{self.vendor} refused the request ({status} at {path}): {self.auth_hint}"
            )
        if status >= 500:
            self._hint = _retry_after_seconds(reply.headers)
            raise ApiError(
                f"{self.vendor} failed at {path} ({status}{detail}): a fault on its side; "
                "try again later",
                retryable=True,
            )
        raise ApiError(
            f"{self.vendor} rejected {path} ({status}{detail}): the request is not accepted; "
            "check the base URL and the API version",
        )

    def _rate_limited(self, path: str, reply: Reply) -> RateLimited:
        seconds = _retry_after_seconds(reply.headers)
        if seconds is None:
            retryable = self.policy.backoff_on_rate_limit
            until = None
        else:
            retryable = seconds <= self.policy.retry_after_max
            until = datetime.now(UTC) + timedelta(seconds=seconds)
        final = self.policy.final_rate_limit
        if final is not None and final.search(self._detail(reply.body)):
            retryable = False
        if self.rate_limit_waited + (seconds or 0.0) > self.policy.rate_limit_wait_max:
            retryable = False
        self._hint = seconds
        method = path.rstrip("/").rsplit("/", 1)[-1]
        return RateLimited(
            method,
            until,
            message=f"{self.vendor} rate limit reached for {method} ({reply.status} at "
            f"{path}): calls stopped; try again after {_when(until)} or poll less often",
            retryable=retryable,
        )

    def _decode(self, path: str, reply: Reply) -> Any:
        try:
            return _json(reply.body)
        except ValueError:
            snippet = self._redact(reply.body[:SNIPPET_CHARS].decode("utf-8", "replace"))
            snippet = " ".join(snippet.split())
            raise ApiError(
                f"{self.vendor} answered {path} with a body that is not JSON "
                f"({len(reply.body)} bytes, starting {snippet!r}): the service is failing; "
                "try again later"
            ) from None

    def _detail(self, body: bytes) -> str:
        try:
            document = json.loads(body)
        except ValueError:
            return ""
        if not isinstance(document, dict):
            return ""
        text = document.get("message") or document.get("error")
        if not isinstance(text, str) or not text:
            return ""
        text = " ".join(self._redact(text).split())[:SNIPPET_CHARS]
        return f", {text!r}"

    def _redact(self, text: str) -> str:
        """Known secrets, and secret-looking fields (a token in a login answer) as the log
        masks them: an excerpt of an answer goes into errors shown and stored."""
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, "***")
        return REDACTOR.scrub(text)

    def _wait(self, state: tenacity.RetryCallState) -> float:
        return retry_wait(self.policy, state.attempt_number, self._hint)

    def _log_retry(self, state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        status = error.status if isinstance(error, SourceError) else "error"
        wait = state.next_action.sleep if state.next_action else 0.0
        self.retries_made += 1
        if isinstance(error, RateLimited):
            self.rate_limit_waited += wait
        logger.info(
            "vendor=%s status=%s attempt=%d retry_in=%.2fs",
            self.vendor,
            status,
            state.attempt_number,
            wait,
        )


def retry_wait(policy: RetryPolicy, attempt: int, retry_after: float | None) -> float:
    """Seconds to wait after failed attempt number `attempt` (from 1): the vendor's Retry-After
    when it sent one, cut to `retry_after_max` or the backoff, whichever is longer; else the
    backoff, doubling per attempt up to `backoff_max`, plus jitter so that clients failing
    together do not retry together."""
    doublings = min(attempt - 1, 64)  # past that any backoff_max is reached; 2.0**1024 overflows
    backoff = min(policy.backoff * 2.0**doublings, policy.backoff_max)
    backoff += random.uniform(0, policy.backoff)
    if not retry_after:
        return backoff
    return min(retry_after, max(policy.retry_after_max, backoff))


def _json(body: bytes) -> Any:
    """orjson reads a large listing about twice as fast as the json module; the json module
    still reads what orjson refuses (integers beyond 64 bits, NaN)."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return json.loads(body)


def _no_connection(error: BaseException) -> bool:
    """Whether no connection was made at all (refused, no route, unknown host), as opposed to
    one that broke once the service had it."""
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(
        reason, urllib3.exceptions.NewConnectionError | urllib3.exceptions.NameResolutionError
    )


def _address(base_url: str) -> str:
    """host:port of `base_url`, for errors: what to check, and never a user or password the
    URL might carry."""
    parts = urlsplit(base_url)
    host = parts.hostname or "?"
    if ":" in host:
        host = f"[{host}]"  # IPv6
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{host}:{port or DEFAULT_PORTS.get(parts.scheme, '?')}"


def _cause(error: BaseException) -> str:
    """The root of a transport failure in a few words ("connection refused"), found under the
    wrappers requests and urllib3 put around it."""
    root, seen = error, set()
    while id(root) not in seen:
        seen.add(id(root))
        inner = root.__cause__ or getattr(root, "reason", None)
        if not isinstance(inner, BaseException):
            inner = next((arg for arg in root.args if isinstance(arg, BaseException)), None)
        if inner is None:
            break
        root = inner

    if isinstance(root, socket.gaierror):
        return f"name not resolved: {_lower_first(root.strerror or str(root))}"
    if isinstance(root, urllib3.exceptions.IncompleteRead | http.client.IncompleteRead):
        received = root.partial if isinstance(root.partial, int) else len(root.partial)
        missing = f", {root.expected} more expected" if root.expected is not None else ""
        return f"the answer stopped after {received} bytes{missing}"
    if isinstance(root, http.client.RemoteDisconnected):
        return "closed without an answer"
    if isinstance(root, TimeoutError):
        return "timed out"
    if isinstance(root, OSError) and root.errno:
        return _lower_first(os.strerror(root.errno))
    return type(root).__name__  # its text may quote the URL; its name never does


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _is_retryable(error: BaseException) -> bool:
    return isinstance(error, SourceError) and error.retryable


def _retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Retry-After as seconds from now: either a number of seconds or an HTTP date."""
    value = headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def _when(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment else "a while"
