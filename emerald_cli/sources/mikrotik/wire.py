"""The socket under librouteros: buffered reads, one wall-clock deadline, and TLS set-up.

librouteros reads every length prefix and every word with its own `recv()` and applies its
timeout per `recv()`, so a router that trickles one byte a second never times out. This
transport reads large chunks and gives every `recv()` only the time left before the poll's
deadline, so a slow router is cut at its deadline whatever it sends.
"""

from __future__ import annotations

import socket
import ssl
import time
from dataclasses import dataclass

from librouteros.connections import SocketTransport
from librouteros.exceptions import ConnectionClosed

from emerald_cli.sources.mikrotik.errors import Timeout, Unreachable

CHUNK = 256 * 1024

# Anonymous Diffie-Hellman: what RouterOS api-ssl offers when no certificate is set on it.
# OpenSSL only allows these ciphers at security level 0, and TLS 1.3 has none of them.
ANONYMOUS_CIPHERS = (
    "ADH-AES256-GCM-SHA384:ADH-AES128-GCM-SHA256:ADH-AES256-SHA256:ADH-AES128-SHA256:"
    "ADH-AES256-SHA:ADH-AES128-SHA:@SECLEVEL=0"
)


@dataclass(frozen=True)
class TlsSettings:
    """How to wrap the router's socket: verified TLS, unverified TLS, or anonymous DH."""

    verify: bool = True
    ca_file: str | None = None
    anonymous: bool = False

    def context(self) -> ssl.SSLContext:
        if self.anonymous:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            context.maximum_version = ssl.TLSVersion.TLSv1_2
            context.set_ciphers(ANONYMOUS_CIPHERS)
            return context

        context = ssl.create_default_context(cafile=self.ca_file)
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context


class Deadline:
    """The instant a router's whole poll must be over, shared by every step of it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def remaining(self) -> float:
        left = self.at - time.monotonic()
        if left <= 0:
            raise Timeout(f"no complete answer within the {self.seconds:g}s deadline")
        return left


class DeadlineTransport(SocketTransport):
    """A librouteros transport that buffers reads and honours the poll's deadline."""

    def __init__(self, sock: socket.socket, deadline: Deadline) -> None:
        super().__init__(sock)
        self.deadline = deadline
        self.buffer = bytearray()
        self.position = 0

    def read(self, length: int) -> bytes:
        end = self.position + length
        while len(self.buffer) < end:
            self.fill()
            end = self.position + length
        data = bytes(self.buffer[self.position : end])
        self.position = end
        return data

    def write(self, data: bytes) -> None:
        self.sock.settimeout(self.deadline.remaining())
        try:
            self.sock.sendall(data)
        except TimeoutError as error:
            raise Timeout(f"router stopped reading within {self.deadline.seconds:g}s") from error

    def fill(self) -> None:
        """Read one more chunk, waiting at most until the deadline."""
        # Drop what was consumed before growing, so a 50,000-row reply stays one chunk wide.
        if self.position:
            del self.buffer[: self.position]
            self.position = 0

        self.sock.settimeout(self.deadline.remaining())
        try:
            chunk = self.sock.recv(CHUNK)
        except TimeoutError as error:
            raise Timeout(
                f"no complete answer within the {self.deadline.seconds:g}s deadline"
            ) from error
        if not chunk:
            raise ConnectionClosed("the router closed the connection mid-reply")
        self.buffer += chunk


def open_socket(
    host: str, port: int, deadline: Deadline, tls: TlsSettings | None
) -> DeadlineTransport:
    """Connect (and shake hands) within the deadline; refusals become `Unreachable`."""
    try:
        sock = socket.create_connection((host, port), timeout=deadline.remaining())
    except TimeoutError as error:
        raise Timeout(f"TCP connect to {host}:{port} timed out") from error
    except OSError as error:
        raise Unreachable(f"cannot connect to {host}:{port}: {error.strerror or error}") from error

    if tls is not None:
        sock.settimeout(deadline.remaining())
        try:
            sock = tls.context().wrap_socket(sock, server_hostname=host)
        except TimeoutError as error:
            sock.close()
            raise Timeout(f"TLS handshake with {host}:{port} timed out") from error
        except (ssl.SSLError, OSError) as error:
            sock.close()
            raise Unreachable(_tls_message(host, port, error)) from error

    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return DeadlineTransport(sock, deadline)


def _tls_message(host: str, port: int, error: Exception) -> str:
    if isinstance(error, ssl.SSLCertVerificationError):
        return (
            f"TLS certificate of {host}:{port} failed verification ({error.verify_message}): "
            "set tls_ca_file, or tls_verify = false to skip the check"
        )
    reason = getattr(error, "reason", None) or str(error)
    return (
        f"TLS handshake with {host}:{port} failed ({reason}); a router without a "
        "certificate needs tls_anonymous = true"
    )
