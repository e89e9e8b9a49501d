"""Fixtures for the lab's own tests: a small seeded fleet served on loopback, and raw clients
that show what librouteros hides (reply words, tags, bytes)."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from typing import Any

import librouteros
import pytest

from emerald_cli.lab.dataset import Fleet, build_fleet
from emerald_cli.lab.routeros import RouterLab
from emerald_cli.lab.routeros.raw_client import RawClient

USERNAME = "api-reader"
PASSWORD = "s3cret-lab"


def connect(lab: RouterLab, name: str, **options: Any) -> librouteros.api.Api:
    """librouteros logged in to a lab router: latin-1 (loses no byte) and a 3 s timeout."""
    endpoint = lab.endpoint(name)
    options.setdefault("encoding", "latin-1")
    options.setdefault("timeout", 3)
    return librouteros.connect(endpoint.host, USERNAME, PASSWORD, port=endpoint.port, **options)


@pytest.fixture
def fleet() -> Fleet:
    return build_fleet(seed=7, routers=3, secrets=20)


@pytest.fixture
def lab(fleet: Fleet) -> Iterator[RouterLab]:
    credentials = {"username": USERNAME, "password": PASSWORD}
    with RouterLab(fleet, credentials=credentials) as running:
        yield running


@pytest.fixture
def raw(lab: RouterLab) -> Iterator[Callable[..., RawClient]]:
    """Open raw connections to a lab router by name; all are closed after the test."""
    opened: list[RawClient] = []

    def connect(
        name: str, *, timeout: float = 3.0, context: ssl.SSLContext | None = None
    ) -> RawClient:
        endpoint = lab.endpoint(name)
        client = RawClient.connect(endpoint.host, endpoint.port, timeout=timeout, context=context)
        opened.append(client)
        return client

    yield connect
    for client in opened:
        client.close()
