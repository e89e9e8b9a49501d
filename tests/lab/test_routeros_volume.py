"""Volume: one router with 50,000 secrets, and 200 routers x 500 secrets served at once with
100 ms of latency, as the benchmark asks of the lab."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from emerald_cli.lab.dataset import build_fleet
from emerald_cli.lab.routeros import RouterEndpoint, RouterLab
from emerald_cli.lab.routeros.raw_client import RawClient, rows_of

pytestmark = pytest.mark.slow


def read_secrets(endpoint: RouterEndpoint) -> list[dict[str, str]]:
    client = RawClient.connect(endpoint.host, endpoint.port, timeout=30)
    try:
        client.login(endpoint.username, endpoint.password)
        return rows_of(client.talk("/ppp/secret/print"), endpoint.encoding)
    finally:
        client.close()


def test_fifty_thousand_secrets_stream_in_one_print() -> None:
    fleet = build_fleet(seed=3, routers=1, secrets=50_000)

    with RouterLab(fleet) as lab:
        rows = read_secrets(lab.endpoint("router-000"))
        stats = lab.stats("router-000")

    assert rows == fleet.routers[0].secrets
    assert stats.rows_sent == 50_000
    assert stats.password_rows_sent == 50_000


def test_two_hundred_routers_with_latency_served_concurrently() -> None:
    fleet = build_fleet(seed=5, routers=200, secrets=500)

    with RouterLab(fleet, latency=0.1) as lab, ThreadPoolExecutor(200) as pool:
        results = list(pool.map(read_secrets, lab.endpoints()))
        logins = sum(lab.stats(router.name).logins for router in fleet.routers)

    assert [len(rows) for rows in results] == [500] * 200
    assert results[199] == fleet.routers[199].secrets
    assert logins == 200
