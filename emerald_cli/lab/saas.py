"""What the ISPCube and SmartOLT lab servers share: a threaded HTTP server on loopback, a clock
tests can move, injected faults and a count of requests per path.

The faults are the ways a SaaS API fails in the field (5xx, a hung or trickling answer, a body
cut short, an HTML error page sent with 200, a reset), so a client can be proven against each.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import struct
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self
from urllib.parse import parse_qsl, urlsplit

import orjson

from emerald_cli.lab.ports import PortUnavailable

logger = logging.getLogger(__name__)

FAULT_MODES = (
    "status",  # answer `status` (500, 502, 504, ...) instead
    "hang",  # accept the request, never answer
    "trickle",  # answer one byte every `trickle_interval` seconds
    "truncated",  # send only the first half of the JSON body, as a complete answer
    "html_200",  # an HTML error page with status 200
    "reset",  # promise the whole body, send half, drop the connection
    "repeat_page",  # (ISPCube lists) ignore offset: the same page forever
    "endless",  # (ISPCube lists) never a short page
)
# The modes that bend offset paging, so they act only at a server's `offset_lists`.
LIST_FAULT_MODES = ("repeat_page", "endless")
HTML_ERROR_PAGE = (
    b"<!DOCTYPE html><html><head><title>Service Unavailable</title></head>"
    b"<body><h1>Something went wrong</h1><p>Please try again later.</p></body></html>"
)

Clock = Callable[[], float]


class LabClock:
    """Seconds that only move when told, so a test can spend an hour of rate limits at once.

    `tick` seconds pass on every reading, as if each request took that long.
    """

    def __init__(self, start: float = 0.0, tick: float = 0.0) -> None:
        self._now = start
        self.tick = tick
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            now = self._now
            self._now += self.tick
            return now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


@dataclass
class Fault:
    """A fault injected at one path: `mode` from FAULT_MODES; `times` left (None = always);
    `retry_after` seconds, sent as Retry-After with a `status` answer when set."""

    mode: str
    status: int = 500
    times: int | None = None
    retry_after: int | None = None


@dataclass
class LabRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class LabReply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    @classmethod
    def json(cls, status: int, document: Any, headers: dict[str, str] | None = None) -> LabReply:
        """Compact UTF-8 JSON. orjson writes the same bytes as the json module ten times
        faster, so a benchmark against the lab times the client rather than the fake."""
        try:
            body = orjson.dumps(document)
        except orjson.JSONEncodeError:
            body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
        return cls(status, body, headers or {})


class LabServer:
    """A lab HTTP server; subclasses answer `route()` and name their endpoints in `paths`."""

    vendor: ClassVar[str] = "lab server"
    paths: ClassVar[dict[str, str]] = {}
    # The endpoints (names from `paths`) that page by offset, where LIST_FAULT_MODES act.
    offset_lists: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        trickle_interval: float = 2.0,
        latency: float = 0.0,
    ) -> None:
        self.host = host
        self.port = port
        self.trickle_interval = trickle_interval
        self.latency = latency  # seconds before every answer, as over a slow link
        self.requests: Counter[str] = Counter()
        self.last_requests: dict[str, LabRequest] = {}
        self._faults: dict[str, Fault] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()

    @property
    def url(self) -> str:
        """The base URL a client is configured with (…/api)."""
        return f"http://{self.host}:{self.port}/api"

    def start(self) -> Self:
        self._stopping.clear()
        try:
            server = _Server((self.host, self.port), _Handler)
        except OSError as error:
            raise PortUnavailable(self.vendor, self.host, self.port, error) from None
        server.lab = self
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}:{self.port}",
            daemon=True,
        )
        self._thread.start()
        logger.debug("lab=%s url=%s started", type(self).__name__, self.url)
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            _drop(connection)
        if self._thread is not None:
            self._thread.join()
        self._server = None
        logger.debug("lab=%s stopped", type(self).__name__)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def fault(
        self,
        endpoint: str,
        mode: str,
        *,
        status: int = 500,
        times: int | None = None,
        retry_after: int | None = None,
    ) -> None:
        """Inject `mode` at `endpoint` (a short name from `paths`, or a path)."""
        if mode not in FAULT_MODES:
            raise ValueError(f"unknown fault mode {mode!r}; choose from {FAULT_MODES}")
        if mode not in self.fault_modes(endpoint):
            raise ValueError(f"fault mode {mode!r} changes nothing at {endpoint!r}")
        with self._lock:
            self._faults[self.paths.get(endpoint, endpoint)] = Fault(
                mode, status, times, retry_after
            )

    @classmethod
    def fault_modes(cls, endpoint: str) -> tuple[str, ...]:
        """The modes that change what `endpoint` answers, so that no fault is set in vain."""
        lists = {*cls.offset_lists, *(cls.paths[name] for name in cls.offset_lists)}
        return tuple(
            mode for mode in FAULT_MODES if endpoint in lists or mode not in LIST_FAULT_MODES
        )

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def request_count(self, endpoint: str) -> int:
        """Requests received at `endpoint` (a short name from `paths`, or a path)."""
        with self._lock:
            return self.requests[self.paths.get(endpoint, endpoint)]

    def reset_counts(self) -> None:
        with self._lock:
            self.requests.clear()

    def route(self, request: LabRequest, fault: Fault | None) -> LabReply:
        raise NotImplementedError

    def error_reply(self, status: int) -> LabReply:
        return LabReply.json(status, {"message": "Server Error"})

    def wait(self, seconds: float) -> bool:
        """Sleep unless the server stops first; True when it is stopping."""
        return self._stopping.wait(seconds)

    def last_request(self, endpoint: str) -> LabRequest | None:
        """The latest request at `endpoint`, so tests can check the headers a client sent."""
        with self._lock:
            return self.last_requests.get(self.paths.get(endpoint, endpoint))

    def _take_fault(self, request: LabRequest) -> Fault | None:
        path = request.path
        with self._lock:
            self.requests[path] += 1
            self.last_requests[path] = request
            fault = self._faults.get(path)
            if fault is None:
                return None
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    del self._faults[path]
            return fault

    def _serve(self, handler: _Handler, request: LabRequest) -> None:
        fault = self._take_fault(request)
        mode = fault.mode if fault else None
        if self.latency and self.wait(self.latency):
            handler.close_connection = True
            return
        if mode == "hang":
            self._stopping.wait()
            handler.close_connection = True
            return
        if fault is not None and mode == "status":
            reply = self.error_reply(fault.status)
            if fault.retry_after is not None:
                reply.headers["Retry-After"] = str(fault.retry_after)
            _write(handler, reply)
            return

        reply = self.route(request, fault)
        if mode == "truncated":
            reply = LabReply(reply.status, reply.body[: len(reply.body) // 2], reply.headers)
        elif mode == "html_200":
            reply = LabReply(200, HTML_ERROR_PAGE, {}, "text/html; charset=utf-8")

        if mode == "trickle":
            self._trickle(handler, reply)
        elif mode == "reset":
            _write(handler, reply, send=len(reply.body) // 2)
            handler.close_connection = True
            handler.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
        else:
            _write(handler, reply)

    def _trickle(self, handler: _Handler, reply: LabReply) -> None:
        _write(handler, reply, send=0)
        handler.close_connection = True
        for index in range(len(reply.body)):
            if self._stopping.wait(self.trickle_interval if index else 0):
                return
            try:
                handler.wfile.write(reply.body[index : index + 1])
                handler.wfile.flush()
            except OSError:
                return

    def _track(self, connection: socket.socket, *, open_: bool) -> None:
        with self._lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    lab: LabServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body leave as separate small writes
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.lab._track(self.connection, open_=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.lab._track(self.connection, open_=False)

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = LabRequest(
            method=self.command,
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
        )
        try:
            self.server.lab._serve(self, request)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("lab=%s %s", type(self.server.lab).__name__, format % args)


def _write(handler: _Handler, reply: LabReply, send: int | None = None) -> None:
    handler.send_response(reply.status)
    handler.send_header("Content-Type", reply.content_type)
    handler.send_header("Content-Length", str(len(reply.body)))
    for name, value in reply.headers.items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(reply.body if send is None else reply.body[:send])
    handler.wfile.flush()


def _drop(connection: socket.socket) -> None:
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)
