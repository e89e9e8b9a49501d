"""Fixtures for the SaaS clients: a small seeded world served by the lab servers on loopback,
and client factories with short timeouts and backoff so fault tests stay fast."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from emerald_cli.lab.billing import Billing, build_billing
from emerald_cli.lab.dataset import build_fleet
from emerald_cli.lab.ispcube import ISPCubeLab
from emerald_cli.lab.smartolt import SmartOLTLab
from emerald_cli.sources.ispcube import ISPCubeClient
from emerald_cli.sources.smartolt import SmartOLTClient

API_KEY = secrets.token_hex(8)
CLIENT_ID = "77"
USERNAME = "api-emerald"
PASSWORD = secrets.token_hex(8)
SMARTOLT_TOKEN = secrets.token_hex(16)
FAST = {"backoff": 0.01, "read_timeout": 2.0, "connect_timeout": 1.0}


@pytest.fixture
def billing() -> Billing:
    return build_billing(build_fleet(seed=7, routers=3, secrets=20))


@pytest.fixture
def ispcube_lab(billing: Billing) -> Iterator[ISPCubeLab]:
    lab = ISPCubeLab(
        billing, API_KEY, CLIENT_ID, USERNAME, PASSWORD, unpaged_delay=0.2, trickle_interval=0.05
    )
    with lab:
        yield lab


@pytest.fixture
def ispcube(ispcube_lab: ISPCubeLab) -> Iterator[Callable[..., ISPCubeClient]]:
    """Make clients of the lab tenant; keyword arguments override the fast defaults."""
    made: list[ISPCubeClient] = []

    def make(**options: Any) -> ISPCubeClient:
        settings = {**FAST, **options}
        credentials = {
            "api_key": settings.pop("api_key", API_KEY),
            "client_id": settings.pop("client_id", CLIENT_ID),
            "username": settings.pop("username", USERNAME),
            "password": settings.pop("password", PASSWORD),
        }
        client = ISPCubeClient(
            settings.pop("base_url", ispcube_lab.url), **credentials, **settings
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def smartolt_lab(billing: Billing) -> Iterator[SmartOLTLab]:
    with SmartOLTLab(billing, SMARTOLT_TOKEN, trickle_interval=0.05) as lab:
        yield lab


@pytest.fixture
def smartolt(smartolt_lab: SmartOLTLab) -> Iterator[Callable[..., SmartOLTClient]]:
    made: list[SmartOLTClient] = []

    def make(**options: Any) -> SmartOLTClient:
        settings = {**FAST, **options}
        base_url = settings.pop("base_url", smartolt_lab.url)
        client = SmartOLTClient(base_url, settings.pop("token", SMARTOLT_TOKEN), **settings)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
