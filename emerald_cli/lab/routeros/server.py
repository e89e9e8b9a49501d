"""The RouterOS lab: many simulated routers served from one process, each on its own port.

One asyncio loop in a background thread holds every listener and connection, so 200 routers
with 100 ms of latency each cost sleeping coroutines, not 200 busy threads. Rows are read
from the fleet on every print, so a test can edit a router's tables between two syncs.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import ssl
import struct
import tempfile
import threading
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from emerald_cli.lab.dataset import Fleet, LabRouter
from emerald_cli.lab.ports import PortUnavailable
from emerald_cli.lab.routeros import tls
from emerald_cli.lab.routeros.endpoints import (
    DEFAULT_PASSWORD,
    DEFAULT_PASSWORD_ENV,
    DEFAULT_USERNAME,
    RouterEndpoint,
)
from emerald_cli.lab.routeros.faults import (
    LISTENER_FAULTS,
    RouterBehaviour,
    default_password_env,
)
from emerald_cli.lab.routeros.inventory import write_inventory
from emerald_cli.lab.routeros.session import Hangup, RouterStats, Session, SessionSettings

# write_inventory is re-exported: callers take the lab's whole API from this module.
__all__ = ["RouterEndpoint", "RouterLab", "serve_forever", "write_inventory"]

logger = logging.getLogger(__name__)

TLS_FAULTS = ("tls_only", "tls_cert")
_STARTUP_TIMEOUT = 60.0

T = TypeVar("T")


@dataclass
class _Listener:
    """One router's port: its listener (or the bound, silent socket of `refuse`) and state."""

    router: LabRouter
    behaviour: RouterBehaviour
    requested_port: int
    stats: RouterStats = field(default_factory=RouterStats)
    port: int = 0
    server: asyncio.Server | None = None
    blocker: socket.socket | None = None
    resets_done: int = 0
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


class RouterLab:
    """Serve every router of `fleet` on loopback; see `configure` for per-router faults."""

    def __init__(
        self,
        fleet: Fleet,
        credentials: Mapping[str, str] | None = None,
        latency: float = 0.0,
        host: str = "127.0.0.1",
        *,
        base_port: int | None = None,
        chunk_rows: int = 1000,
    ) -> None:
        credentials = credentials or {}
        self.fleet = fleet
        self.username = credentials.get("username", DEFAULT_USERNAME)
        self.password = credentials.get("password", DEFAULT_PASSWORD)
        self.latency = latency
        self.host = host
        self.chunk_rows = chunk_rows
        self._listeners = {
            router.name: _Listener(
                router=router,
                behaviour=RouterBehaviour(),
                requested_port=0 if base_port is None else base_port + position,
            )
            for position, router in enumerate(fleet.routers)
        }
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._workdir: Path | None = None
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._cert_path: Path | None = None
        self._stopping = False

    def configure(self, name: str, **settings: Any) -> RouterLab:
        """Change one router's behaviour (fault, style, latency, password, ...).

        Settings not named keep their value; `fault=None` clears the fault. On a running lab
        the router's listener is reopened on the same port when the change needs it.
        """
        listener = self._listener(name)
        old = listener.behaviour
        listener.behaviour = old.updated(**settings)
        if "fault" in settings:
            listener.resets_done = 0
        if old.port != listener.behaviour.port:
            listener.port = 0

        rebind = _listens_differently(old, listener.behaviour)
        if self._loop is not None and rebind:
            self._call(self._reopen(listener))
        return self

    def start(self) -> RouterLab:
        """Bind every router's port; returns self so `lab = RouterLab(...).start()` reads."""
        if self._loop is not None:
            raise RuntimeError("the RouterOS lab is already running")

        self._stopping = False
        self._workdir = Path(tempfile.mkdtemp(prefix="emerald-routeros-lab-"))
        self._loop = asyncio.new_event_loop()
        self._loop.set_exception_handler(_log_loop_error)
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="routeros-lab", daemon=True
        )
        self._thread.start()
        try:
            self._call(self._open_all())
        except BaseException:
            self.stop()
            raise
        logger.info("routeros lab started: %d routers on %s", len(self._listeners), self.host)
        return self

    def stop(self) -> None:
        """Close every listener and connection, then the loop; safe to call twice."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        self._stopping = True
        if loop.is_running():
            self._call(self._close_all())
            loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()
        self._loop = self._thread = None
        self._contexts.clear()
        self._cert_path = None
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
        logger.info("routeros lab stopped")

    @property
    def running(self) -> bool:
        return self._loop is not None

    def __enter__(self) -> RouterLab:
        return self if self.running else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def endpoints(self) -> list[RouterEndpoint]:
        return [self.endpoint(name) for name in self._listeners]

    def endpoint(self, name: str) -> RouterEndpoint:
        if not self.running:
            raise RuntimeError("start the RouterOS lab before asking for its endpoints")

        listener = self._listener(name)
        behaviour = listener.behaviour
        password_env = None
        if behaviour.password is not None:
            password_env = behaviour.password_env or default_password_env(name)
        return RouterEndpoint(
            name=name,
            host=self.host,
            port=listener.port,
            tls=behaviour.fault in TLS_FAULTS,
            tls_verify=behaviour.fault != "tls_only",
            tls_anonymous=behaviour.fault == "tls_only",
            ca_path=self._cert_path if behaviour.fault == "tls_cert" else None,
            username=self.username,
            password=self.password if behaviour.password is None else behaviour.password,
            password_env=password_env,
            encoding=listener.router.encoding,
            version=listener.router.version,
            fault=behaviour.fault,
        )

    def environment(self) -> dict[str, str]:
        """The environment variables that hold the passwords an inventory refers to."""
        variables = {DEFAULT_PASSWORD_ENV: self.password}
        for endpoint in self.endpoints():
            if endpoint.password_env is not None:
                variables[endpoint.password_env] = endpoint.password
        return variables

    def stats(self, name: str) -> RouterStats:
        """Live counters of one router (connections, logins, commands, rows sent)."""
        return self._listener(name).stats

    @property
    def tls_ca_path(self) -> Path | None:
        """The certificate every `tls_cert` router presents; None until one is served."""
        return self._cert_path

    def _listener(self, name: str) -> _Listener:
        try:
            return self._listeners[name]
        except KeyError:
            raise KeyError(f"no lab router named {name!r}") from None

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        assert self._loop is not None
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(timeout=_STARTUP_TIMEOUT)

    async def _open_all(self) -> None:
        for listener in self._listeners.values():
            await self._open(listener)

    async def _close_all(self) -> None:
        tasks: list[asyncio.Task[None]] = []
        for listener in self._listeners.values():
            self._close(listener)
            tasks.extend(listener.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _reopen(self, listener: _Listener) -> None:
        self._close(listener)
        await self._open(listener)

    async def _open(self, listener: _Listener) -> None:
        behaviour = listener.behaviour
        port = listener.port or behaviour.port or listener.requested_port
        context = self._tls_context(behaviour.fault)
        try:
            if behaviour.fault == "refuse":
                listener.blocker = _bound_not_listening(self.host, port)
                listener.port = listener.blocker.getsockname()[1]
                return

            server = await asyncio.start_server(
                partial(self._serve, listener),
                self.host,
                port,
                ssl=context,
                reuse_address=True,
                backlog=512,
            )
        except OSError as error:
            name = f"router {listener.router.name}"
            raise PortUnavailable(name, self.host, port, error) from None
        listener.server = server
        listener.port = server.sockets[0].getsockname()[1]
        logger.debug("router=%s listening on port %d", listener.router.name, listener.port)

    def _close(self, listener: _Listener) -> None:
        if listener.server is not None:
            listener.server.close()
            listener.server = None
        if listener.blocker is not None:
            listener.blocker.close()
            listener.blocker = None

    def _tls_context(self, fault: str | None) -> ssl.SSLContext | None:
        if fault not in TLS_FAULTS:
            return None
        if fault not in self._contexts:
            assert self._workdir is not None
            if fault == "tls_only":
                self._contexts[fault] = tls.anonymous_server_context(self._workdir)
            else:
                cert_path, key_path = tls.make_self_signed(self._workdir, self.host)
                self._contexts[fault] = tls.certificate_server_context(cert_path, key_path)
                self._cert_path = cert_path
        return self._contexts[fault]

    async def _serve(
        self, listener: _Listener, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        listener.tasks.add(task)
        listener.stats.connections += 1
        behaviour = listener.behaviour
        name = listener.router.name
        reset = False
        try:
            if behaviour.fault == "flaky" and listener.resets_done < behaviour.failures:
                listener.resets_done += 1
                logger.debug("router=%s flaky: resetting connection", name)
                reset = True
                return

            settings = SessionSettings(
                router=listener.router,
                behaviour=behaviour,
                stats=listener.stats,
                username=self.username,
                password=self.password,
                latency=self.latency,
                chunk_rows=self.chunk_rows,
            )
            await Session(settings, reader, writer).run()
        except Hangup as hangup:
            reset = hangup.reset
        except OSError as error:
            logger.debug("router=%s connection lost: %s", name, error)
        except asyncio.CancelledError:
            # The lab is stopping; ending quietly spares asyncio's callback a cancelled task.
            logger.debug("router=%s connection closed by the lab's stop", name)
        except Exception:
            logger.exception("router=%s lab session failed", name)
        finally:
            _hang_up(writer, reset=reset or self._stopping)
            listener.tasks.discard(task)


def _listens_differently(old: RouterBehaviour, new: RouterBehaviour) -> bool:
    """Whether a change of behaviour needs the router's listening socket made anew."""
    if old.port != new.port:
        return True
    changed = old.fault != new.fault
    return changed and (old.fault in LISTENER_FAULTS or new.fault in LISTENER_FAULTS)


def _bound_not_listening(host: str, port: int) -> socket.socket:
    """Hold the port without listening on it: connecting gets a RST (connection refused)."""
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        blocker.bind((host, port))
    except OSError:
        blocker.close()
        raise
    return blocker


def _hang_up(writer: asyncio.StreamWriter, *, reset: bool) -> None:
    """Close gracefully (FIN), or abort with SO_LINGER 0 so the peer gets a RST."""
    if not reset:
        writer.close()
        return

    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            logger.debug("could not set SO_LINGER before a reset")
    writer.transport.abort()


def _log_loop_error(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Failed TLS handshakes and vanished clients are the lab's daily bread; the rest is not."""
    error = context.get("exception")
    level = logging.DEBUG if isinstance(error, OSError) else logging.ERROR
    logger.log(level, "routeros lab loop: %s", context.get("message"), exc_info=error)


def serve_forever(lab: RouterLab, stop: threading.Event | None = None) -> None:
    """Run the lab until Ctrl-C (or until `stop` is set), then close it."""
    if not lab.running:
        lab.start()
    stop = stop or threading.Event()
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        logger.info("routeros lab interrupted")
    finally:
        lab.stop()
