"""The TOML inventory that points the product at a running lab, written as an operator would.

Only what an operator would know goes in: addresses, ports, TLS settings and which variable
holds a router's password. How a router logs in (legacy or not) is left for the product to find.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import tomli_w

from emerald_cli.lab.routeros.endpoints import DEFAULT_PASSWORD_ENV, RouterEndpoint

logger = logging.getLogger(__name__)

DEFAULT_PORT = 8728


def write_inventory(
    path: Path | str,
    endpoints: Iterable[RouterEndpoint],
    username: str,
    password_env: str = DEFAULT_PASSWORD_ENV,
    timeout: float = 10,
) -> Path:
    """Write `[defaults]` and one `[[routers]]` table per endpoint; return the path."""
    path = Path(path)
    defaults = {
        "username": username,
        "password_env": password_env,
        "port": DEFAULT_PORT,
        "timeout": timeout,
        "tls": False,
    }
    tables = [_router_table(endpoint, password_env) for endpoint in endpoints]

    # One [[routers]] table each: tomli_w would fold short tables into an inline array.
    text = tomli_w.dumps({"defaults": defaults})
    text += "".join("\n[[routers]]\n" + tomli_w.dumps(table) for table in tables)
    path.write_text(text, encoding="utf-8")
    logger.info("inventory of %d routers written to %s", len(tables), path)
    return path


def _router_table(endpoint: RouterEndpoint, password_env: str) -> dict[str, Any]:
    """Name, host and port, plus only the keys in which this router differs from defaults."""
    table: dict[str, Any] = {"name": endpoint.name, "host": endpoint.host, "port": endpoint.port}
    if endpoint.tls:
        table["tls"] = True
        if not endpoint.tls_verify:
            table["tls_verify"] = False
        if endpoint.tls_anonymous:
            table["tls_anonymous"] = True
        if endpoint.ca_path is not None:
            table["tls_ca_file"] = str(endpoint.ca_path)
    if endpoint.password_env is not None and endpoint.password_env != password_env:
        table["password_env"] = endpoint.password_env
    return table
