"""`python -m emerald_cli.lab.routeros`: serve a seeded fleet and write its inventory.

Runs until Ctrl-C or SIGTERM, so a person or a script can point the product at it.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from emerald_cli.lab.dataset import build_fleet
from emerald_cli.lab.ports import PortUnavailable
from emerald_cli.lab.routeros.endpoints import (
    DEFAULT_PASSWORD,
    DEFAULT_PASSWORD_ENV,
    DEFAULT_USERNAME,
    RouterEndpoint,
)
from emerald_cli.lab.routeros.faults import FAULT_HELP, FAULTS
from emerald_cli.lab.routeros.inventory import write_inventory
from emerald_cli.lab.routeros.server import RouterLab, serve_forever

logger = logging.getLogger(__name__)


def main(argv: Sequence[str] | None = None) -> int:
    options = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if options.verbose else logging.WARNING)

    fleet = build_fleet(options.seed, options.routers, options.secrets)
    password = os.environ.get(DEFAULT_PASSWORD_ENV) or options.password
    lab = RouterLab(
        fleet,
        credentials={"username": options.username, "password": password},
        latency=options.latency,
        host=options.host,
        base_port=options.base_port,
    )
    for name, fault in options.faults:
        lab.configure(name, fault=fault)

    # Before anything is printed: whoever reads the output may stop the lab at once.
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda number, frame: _request_stop(stop, number, frame))
    try:
        lab.start()
    except PortUnavailable as error:
        print(f"{error}: free it, or leave out --base-port for free ports", file=sys.stderr)
        return 2
    endpoints = lab.endpoints()
    if options.inventory is not None:
        write_inventory(options.inventory, endpoints, options.username)
        print(f"inventory: {options.inventory}", flush=True)
    for endpoint in endpoints:
        print(_describe(endpoint, len(fleet.router(endpoint.name).secrets)), flush=True)
    print(f"password in ${DEFAULT_PASSWORD_ENV}; Ctrl-C to stop", flush=True)

    serve_forever(lab, stop)
    return 0


def _describe(endpoint: RouterEndpoint, secrets: int) -> str:
    transport = "tls" if endpoint.tls else "plain"
    fault = endpoint.fault or "none"
    return (
        f"{endpoint.name} {endpoint.host}:{endpoint.port} {transport} "
        f"version={endpoint.version.split(' ')[0]} encoding={endpoint.encoding} "
        f"secrets={secrets} fault={fault}"
    )


def _request_stop(stop: threading.Event, number: int, frame: FrameType | None) -> None:
    stop.set()


def _fault(text: str) -> tuple[str, str]:
    name, separator, fault = text.partition("=")
    if not separator or fault not in FAULTS:
        raise argparse.ArgumentTypeError(f"expected NAME=FAULT with FAULT one of {FAULTS}")
    return name, fault


def _parser() -> argparse.ArgumentParser:
    faults = "\n".join(f"  {name:<20} {meaning}" for name, meaning in FAULT_HELP.items())
    parser = argparse.ArgumentParser(
        prog="python -m emerald_cli.lab.routeros",
        description="Serve fake MikroTik routers (RouterOS API) on loopback.",
        epilog=f"fault modes:\n{faults}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--routers", type=int, default=3)
    parser.add_argument("--secrets", type=int, default=20, help="PPP secrets per router")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each reply")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--base-port", type=int, default=None, help="first port (else free)")
    parser.add_argument("--inventory", type=Path, default=None, help="TOML inventory to write")
    parser.add_argument("--username", default=DEFAULT_USERNAME)
    parser.add_argument(
        "--password",
        default=DEFAULT_PASSWORD,
        help=f"API password, unless ${DEFAULT_PASSWORD_ENV} is set",
    )
    parser.add_argument(
        "--fault",
        dest="faults",
        action="append",
        type=_fault,
        default=[],
        metavar="NAME=FAULT",
        help="give one router a fault mode; repeatable",
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


if __name__ == "__main__":
    sys.exit(main())
