"""The fake ISPCube as a client sees it over HTTP: token rules, auth headers, paging, faults."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
import requests

from emerald_cli.lab.billing import Billing, build_billing
from emerald_cli.lab.dataset import build_fleet
from emerald_cli.lab.ispcube import ISPCubeLab

API_KEY = secrets.token_hex(8)
PASSWORD = secrets.token_hex(8)
LOGIN_HEADERS = {"api-key": API_KEY, "client-id": "77", "login-type": "api"}


@pytest.fixture
def billing() -> Billing:
    return build_billing(build_fleet(seed=7, routers=3, secrets=20))


@pytest.fixture
def ispcube(billing: Billing) -> Iterator[ISPCubeLab]:
    with ISPCubeLab(billing, API_KEY, "77", "api-user", PASSWORD, unpaged_delay=0.1) as lab:
        yield lab


def login(lab: ISPCubeLab, **changes: str) -> requests.Response:
    headers = {**LOGIN_HEADERS, **changes}
    body = {"username": "api-user", "password": PASSWORD}
    return requests.post(f"{lab.url}/sanctum/token", json=body, headers=headers, timeout=5)


def data_headers(lab: ISPCubeLab) -> dict[str, str]:
    token = login(lab).json()["token"]
    return {**LOGIN_HEADERS, "Authorization": f"Bearer {token}", "username": "api-user"}


def test_token_is_issued_only_with_every_header_and_the_body(ispcube: ISPCubeLab) -> None:
    good = login(ispcube)

    assert good.status_code == 200
    assert list(good.json()) == ["token"]
    for header, value in (("api-key", "x"), ("client-id", "78"), ("login-type", "web")):
        refused = login(ispcube, **{header: value})
        assert (refused.status_code, refused.json()) == (
            401,
            {"message": "These credentials do not match our records."},
        )
    assert ispcube.request_count("token") == 4


def test_data_endpoints_want_bearer_api_key_and_client_id(ispcube: ISPCubeLab) -> None:
    headers = data_headers(ispcube)
    url = f"{ispcube.url}/plans/plans_list"

    assert requests.get(url, headers=headers, timeout=5).json() == ispcube.billing.plans
    for missing in ("Authorization", "api-key", "client-id"):
        partial = {k: v for k, v in headers.items() if k != missing}
        answer = requests.get(url, headers=partial, timeout=5)
        assert (answer.status_code, answer.json()) == (401, {"message": "Unauthenticated."})


def test_customers_page_with_limit_and_offset_as_a_bare_array(ispcube: ISPCubeLab) -> None:
    headers = data_headers(ispcube)
    url = f"{ispcube.url}/customers/customers_list"

    page = requests.get(url, params={"limit": 25, "offset": 50}, headers=headers, timeout=5)
    unpaged = requests.get(url, headers=headers, timeout=5)

    assert page.json() == ispcube.billing.customers[50:75]
    assert len(page.json()) == 12
    assert unpaged.json() == ispcube.billing.customers


def test_nodes_envelope_and_live_endpoints(ispcube: ISPCubeLab) -> None:
    headers = data_headers(ispcube)
    url = f"{ispcube.url}/nodes/nodes_list"
    ispcube.billing.set_node_endpoint("router-001", "127.0.0.1", 18001)
    ispcube.nodes_envelope = "data"

    nodes = requests.get(url, headers=headers, timeout=5).json()

    assert list(nodes) == ["data"]
    assert nodes["data"][:3] == [
        {"id": 1, "comment": "router-000", "ip": "127.0.0.1", "port": None},
        {"id": 2, "comment": "router-001", "ip": "127.0.0.1", "port": "18001"},
        {"id": 3, "comment": "router-002", "ip": "127.0.0.1", "port": None},
    ]


def test_a_status_fault_for_the_first_k_requests_then_normal(ispcube: ISPCubeLab) -> None:
    headers = data_headers(ispcube)
    url = f"{ispcube.url}/plans/plans_list"
    ispcube.fault("plans", "status", status=504, times=2)

    codes = [requests.get(url, headers=headers, timeout=5).status_code for _ in range(3)]

    assert codes == [504, 504, 200]
    assert ispcube.request_count("plans") == 3


def test_unknown_paths_and_fault_modes(ispcube: ISPCubeLab) -> None:
    answer = requests.get(f"{ispcube.url}/clientes", timeout=5)

    assert (answer.status_code, answer.json()) == (404, {"message": "Not Found"})
    with pytest.raises(ValueError, match="unknown fault mode"):
        ispcube.fault("plans", "explode")


def test_list_faults_act_at_the_customer_pages_only(ispcube: ISPCubeLab) -> None:
    """Elsewhere they would change nothing, and a test relying on one would prove nothing."""
    ispcube.fault("customers", "repeat_page")
    ispcube.fault("/api/customers/customers_list", "endless")

    for endpoint in ("plans", "/api/connections/connections_list", "token"):
        with pytest.raises(
            ValueError, match=f"fault mode 'endless' changes nothing at {endpoint!r}"
        ):
            ispcube.fault(endpoint, "endless")
    assert ispcube.fault_modes("plans") == (
        "status", "hang", "trickle", "truncated", "html_200", "reset"
    )  # fmt: skip


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (401, {"message": "Unauthenticated."}),
        (403, {"message": "This action is unauthorized."}),
        (404, {"message": "Not Found"}),
        (422, {"message": "The given data was invalid.", "errors": {}}),
        (429, {"message": "Too Many Attempts."}),
        (409, {"message": "Conflict"}),
        (500, {"message": "Server Error"}),
        (502, {"message": "Server Error"}),
    ],
)
def test_an_injected_status_carries_laravels_body_for_it(
    ispcube: ISPCubeLab, status: int, body: dict[str, object]
) -> None:
    headers = data_headers(ispcube)
    ispcube.fault("plans", "status", status=status)

    answer = requests.get(f"{ispcube.url}/plans/plans_list", headers=headers, timeout=5)

    assert (answer.status_code, answer.json()) == (status, body)
