"""Poll one router: connect, log in, print every menu, all within one wall-clock deadline.

`poll_router` never raises: whatever goes wrong becomes a failed `PollResult` with a status
from the run-history vocabulary, because one router's trouble must never stop the others.
Transient failures are retried with jittered exponential backoff, but only while the
deadline leaves time for another try.
"""

from __future__ import annotations

import logging
import socket
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from librouteros.exceptions import ConnectionClosed, FatalError, ProtocolError, TrapError
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    wait_random_exponential,
)

from emerald_cli.sources.mikrotik.errors import (
    DataError,
    ProtocolFailure,
    SourceError,
    Timeout,
    Unreachable,
)
from emerald_cli.sources.mikrotik.login import login
from emerald_cli.sources.mikrotik.menus import IDENTITY, RESOURCE, TABLE_MENUS, Menu
from emerald_cli.sources.mikrotik.protocol import FaithfulApi, FaithfulProtocol
from emerald_cli.sources.mikrotik.wire import Deadline, TlsSettings, open_socket

logger = logging.getLogger(__name__)

NO_SUCH_COMMAND = "no such command"


@dataclass(frozen=True)
class RouterTarget:
    """Everything needed to poll one router; crosses to a worker process as plain data.

    Example: RouterTarget(name="core-1", host="10.0.0.1", port=8728, username="api-reader",
    password="…", timeout=10.0)
    """

    name: str
    host: str
    port: int
    username: str
    password: str = field(repr=False)
    timeout: float = 10.0
    retries: int = 2
    login: str = "auto"
    tls: TlsSettings | None = None


@dataclass
class PollResult:
    """What one router gave: its identity, each menu's rows, or why it failed.

    `tables` maps a table name ("ppp_secrets", ...) to the rows exactly as printed, keyed by
    RouterOS attribute names, and `read_at` to when its print ended, for what a row says
    relative to that moment (a session's uptime). A menu the router lacks is in `skipped`.
    """

    name: str
    host: str = ""
    port: int = 0
    status: str = "ok"
    error: str | None = None
    attempts: int = 0
    duration_s: float = 0.0
    login: str | None = None
    identity: str | None = None
    resource: dict[str, str] = field(default_factory=dict)
    tables: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    read_at: dict[str, datetime] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def poll_router(target: RouterTarget) -> PollResult:
    """Poll `target` until it answers, fails for good, or its deadline passes."""
    started = time.monotonic()
    deadline = Deadline(target.timeout)
    result = PollResult(name=target.name, host=target.host, port=target.port)

    retrying = Retrying(
        stop=stop_after_attempt(target.retries + 1) | stop_before_delay(target.timeout),
        wait=wait_random_exponential(multiplier=0.25, max=4),
        retry=retry_if_exception(lambda error: getattr(error, "retryable", False)),
        reraise=True,
    )
    try:
        for attempt in retrying:
            with attempt:
                result.attempts = attempt.retry_state.attempt_number
                _poll_once(target, deadline, result)
    except SourceError as error:
        result.status, result.error = error.status, str(error)
    except Exception as error:
        logger.exception("router=%s status=crashed", target.name)
        result.status, result.error = "crashed", f"{type(error).__name__}: {error}"

    if not result.ok:
        result.tables, result.resource = {}, {}
    result.duration_s = round(time.monotonic() - started, 3)
    return result


def _poll_once(target: RouterTarget, deadline: Deadline, result: PollResult) -> None:
    transport = open_socket(target.host, target.port, deadline, target.tls)
    api = FaithfulApi(FaithfulProtocol(transport))
    try:
        result.login = login(api, target.username, target.password, target.login)
        _read_menus(api, target, result)
    except (ConnectionClosed, FatalError) as error:
        raise ProtocolFailure(f"connection lost mid-reply: {error}") from None
    except ProtocolError as error:
        raise ProtocolFailure(f"the router broke the protocol: {error}") from None
    except (ConnectionResetError, BrokenPipeError) as error:
        raise Unreachable(f"connection reset: {error}") from None
    except TimeoutError:
        raise Timeout(f"no complete answer within the {target.timeout:g}s deadline") from None
    finally:
        # A connection that failed mid-reply may hold half a sentence: never reuse it.
        _close(transport.sock)


def _read_menus(api: FaithfulApi, target: RouterTarget, result: PollResult) -> None:
    identity = _print(api, IDENTITY)
    result.identity = identity[0].get("name") if identity else None
    resource = _print(api, RESOURCE)
    result.resource = resource[0] if resource else {}

    result.tables, result.skipped = {}, {}
    for menu in TABLE_MENUS:
        try:
            rows = _print(api, menu)
        except TrapError as error:
            if NO_SUCH_COMMAND not in error.message:
                raise ProtocolFailure(f"{menu.path} print failed: {error.message}") from None
            logger.warning("router=%s menu=%s skipped: %s", target.name, menu.path, error)
            result.skipped[menu.table] = error.message
            continue
        _check_names(menu, rows)
        result.tables[menu.table] = rows
        result.read_at[menu.table] = datetime.now(UTC)


def _print(api: FaithfulApi, menu: Menu) -> list[dict[str, str]]:
    return list(api.rawCmd(menu.path + "/print", menu.proplist))


def _check_names(menu: Menu, rows: list[dict[str, str]]) -> None:
    for row in rows:
        if not row.get("name"):
            raise DataError(f"{menu.path} sent a row with no name (.id {row.get('.id', '?')})")


def _close(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        logger.debug("closing a router socket failed", exc_info=True)
