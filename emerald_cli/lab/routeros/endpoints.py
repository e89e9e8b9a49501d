"""What a client needs to reach one lab router, and the lab's shared credentials."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

DEFAULT_USERNAME = "api-reader"
DEFAULT_PASSWORD = "lab-password"  # noqa: S105 (the fake routers' shared password)
DEFAULT_PASSWORD_ENV = "EMERALD_ROUTER_PASSWORD"  # noqa: S105 (a variable name)


@dataclass(frozen=True)
class RouterEndpoint:
    """How a client reaches one lab router, as an inventory would describe it."""

    name: str
    host: str
    port: int
    tls: bool
    # False for anonymous-DH routers: there is no certificate to verify.
    tls_verify: bool
    # True for `tls_only` routers, which offer only anonymous Diffie-Hellman suites.
    tls_anonymous: bool
    # The self-signed certificate (its own CA) of a `tls_cert` router, for the client to trust.
    ca_path: Path | None
    username: str
    password: str = field(repr=False)
    # Set when this router's password differs from the lab's shared one.
    password_env: str | None
    encoding: str
    version: str
    fault: str | None
