"""JsonTransport's waits between attempts: the wait rule for given attempts and Retry-After
values, and the waits a client really makes over HTTP against the lab, timed; and what its
errors say when no connection is made."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager

import pytest
import requests

from emerald_cli.lab.smartolt import SmartOLTLab
from emerald_cli.sources.errors import RateLimited, Unreachable
from emerald_cli.sources.http import JsonTransport, RetryPolicy, retry_wait
from tests.sources.conftest import SMARTOLT_TOKEN

HEADERS = {"X-Token": SMARTOLT_TOKEN}
SIGNALS = "/onu/get_onus_signals"
SAMPLES = 200


@pytest.mark.parametrize(("attempt", "floor"), [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0)])
def test_backoff_doubles_with_each_attempt_plus_jitter(attempt: int, floor: float) -> None:
    policy = RetryPolicy(backoff=1.0, backoff_max=30.0)

    waits = [retry_wait(policy, attempt, None) for _ in range(SAMPLES)]

    assert floor <= min(waits)
    assert max(waits) <= floor + 1.0
    # Jitter spreads the waits over the second above the floor, not one fixed offset.
    assert max(waits) - min(waits) > 0.5


def test_backoff_stops_growing_at_its_maximum() -> None:
    policy = RetryPolicy(backoff=1.0, backoff_max=30.0)

    waits = [retry_wait(policy, attempt, None) for attempt in (6, 7, 20, 2000)]

    assert all(30.0 <= wait <= 31.0 for wait in waits)


@pytest.mark.parametrize("attempt", [1, 2, 3])
def test_a_retry_after_within_the_maximum_replaces_the_backoff(attempt: int) -> None:
    policy = RetryPolicy(backoff=1.0, retry_after_max=60.0)

    assert retry_wait(policy, attempt, 7.0) == 7.0
    assert retry_wait(policy, attempt, 60.0) == 60.0


def test_a_retry_after_beyond_the_maximum_is_cut_to_it() -> None:
    """Only a 5xx gets this far: a rate limit asking for longer is not retried at all."""
    policy = RetryPolicy(backoff=1.0, retry_after_max=60.0)

    assert retry_wait(policy, 1, 3600.0) == 60.0


@pytest.mark.parametrize(
    ("status", "retry_after", "retry_after_max", "waited"),
    [
        pytest.param(503, None, 60.0, 0.0, id="503-backoff"),
        pytest.param(429, 1, 60.0, 1.0, id="429"),
        pytest.param(403, 1, 60.0, 1.0, id="403-with-retry-after"),
        pytest.param(503, 1, 60.0, 1.0, id="503"),
        pytest.param(503, 30, 0.5, 0.5, id="503-beyond-the-maximum"),
    ],
)
def test_a_retry_waits_what_the_answer_asked_for(
    smartolt_lab: SmartOLTLab,
    status: int,
    retry_after: int | None,
    retry_after_max: float,
    waited: float,
) -> None:
    """Timed over HTTP: the backoff here is 0.01 s, so a wait of a second is the Retry-After."""
    smartolt_lab.fault("signals", "status", status=status, times=1, retry_after=retry_after)
    policy = RetryPolicy(retries=1, backoff=0.01, retry_after_max=retry_after_max)

    with closing(JsonTransport("SmartOLT", smartolt_lab.url, policy=policy)) as transport:
        started = time.monotonic()
        body = transport.call("GET", SIGNALS, headers=HEADERS)
        elapsed = time.monotonic() - started

    assert body["response"] == smartolt_lab.billing.signals()
    assert waited <= elapsed < waited + 0.5
    assert (smartolt_lab.request_count("signals"), transport.retries_made) == (2, 1)


def test_a_rate_limit_asking_for_more_than_the_maximum_is_not_waited_for(
    smartolt_lab: SmartOLTLab,
) -> None:
    smartolt_lab.fault("signals", "status", status=429, times=1, retry_after=30)
    policy = RetryPolicy(retries=3, backoff=0.01, retry_after_max=5.0)

    with closing(JsonTransport("SmartOLT", smartolt_lab.url, policy=policy)) as transport:
        started = time.monotonic()
        with pytest.raises(RateLimited) as caught:
            transport.call("GET", SIGNALS, headers=HEADERS)
        elapsed = time.monotonic() - started

    assert caught.value.retryable is False
    assert elapsed < 0.5
    assert (smartolt_lab.request_count("signals"), transport.retries_made) == (1, 0)


@contextmanager
def closed_port() -> Iterator[int]:
    """A port bound but never listening: connecting to it is refused."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield bound.getsockname()[1]


@contextmanager
def full_backlog() -> Iterator[int]:
    """A port whose backlog is full: the system drops a new connection's SYN, so connecting
    times out instead of being refused."""
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen(0)
        port = listening.getsockname()[1]
        waiting = [socket.socket() for _ in range(4)]
        for client in waiting:
            client.setblocking(False)
            client.connect_ex(("127.0.0.1", port))
        try:
            yield port
        finally:
            for client in waiting:
                client.close()


def test_a_refused_connection_names_host_port_and_cause_but_no_credentials() -> None:
    policy = RetryPolicy(retries=0)
    with closed_port() as port:
        url = f"http://emerald:url-s3cret@127.0.0.1:{port}/api"
        transport = JsonTransport("ISPCube", url, policy=policy)
        with closing(transport), pytest.raises(Unreachable) as caught:
            transport.call("POST", "/sanctum/token")

    assert str(caught.value) == (
        f"ISPCube could not be reached at 127.0.0.1:{port} for /sanctum/token (connection "
        "refused): check the base URL and the network"
    )


def test_a_connection_not_accepted_in_time_names_host_port_and_the_wait() -> None:
    policy = RetryPolicy(retries=0)
    with full_backlog() as port:
        url = f"http://127.0.0.1:{port}/api"
        transport = JsonTransport("SmartOLT", url, policy=policy, connect_timeout=0.3)
        with closing(transport), pytest.raises(Unreachable) as caught:
            transport.call("GET", SIGNALS, headers=HEADERS)

    assert str(caught.value) == (
        f"SmartOLT did not accept a connection at 127.0.0.1:{port} within 0.3s for "
        f"{SIGNALS}: check the base URL and the network"
    )


def test_an_answer_cut_short_names_host_port_and_how_much_came(
    smartolt_lab: SmartOLTLab,
) -> None:
    whole = len(requests.get(smartolt_lab.url + SIGNALS, headers=HEADERS, timeout=5).content)
    smartolt_lab.fault("signals", "reset")
    policy = RetryPolicy(retries=0)

    transport = JsonTransport("SmartOLT", smartolt_lab.url, policy=policy)
    with closing(transport), pytest.raises(Unreachable) as caught:
        transport.call("GET", SIGNALS, headers=HEADERS)

    sent = whole // 2  # what the reset fault sends before dropping the connection
    assert str(caught.value) == (
        f"SmartOLT dropped the connection at 127.0.0.1:{smartolt_lab.port} mid-answer to "
        f"{SIGNALS} (the answer stopped after {sent} bytes, {whole - sent} more expected): "
        "the service or the network is failing; try again later"
    )
