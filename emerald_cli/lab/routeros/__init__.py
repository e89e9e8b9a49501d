"""Fake MikroTik routers that speak the real RouterOS API on loopback, with fault modes.

A peer of the product, not part of it: nothing here imports the product, so the product must
talk to the lab exactly as it would to a router.
"""

from emerald_cli.lab.routeros.endpoints import RouterEndpoint
from emerald_cli.lab.routeros.faults import FAULT_HELP, FAULTS, RouterBehaviour
from emerald_cli.lab.routeros.inventory import write_inventory
from emerald_cli.lab.routeros.server import RouterLab, serve_forever
from emerald_cli.lab.routeros.session import RouterStats

__all__ = [
    "FAULTS",
    "FAULT_HELP",
    "RouterBehaviour",
    "RouterEndpoint",
    "RouterLab",
    "RouterStats",
    "serve_forever",
    "write_inventory",
]
