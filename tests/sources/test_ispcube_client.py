"""ISPCubeClient against the lab tenant over real HTTP: streams, request budget, token expiry,
and every injected fault ending in the right error."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from emerald_cli.lab.ispcube import ISPCubeLab
from emerald_cli.lab.saas import LabClock
from emerald_cli.sources.errors import ApiError, AuthFailed, SourceError, Timeout, Unreachable
from emerald_cli.sources.ispcube import ISPCubeClient
from tests.sources.conftest import API_KEY, CLIENT_ID, PASSWORD, USERNAME

Make = Callable[..., ISPCubeClient]


def test_token_and_data_requests_carry_the_documented_headers(
    ispcube: Make, ispcube_lab: ISPCubeLab
) -> None:
    client = ispcube()

    client.plans()

    login = ispcube_lab.last_request("token")
    data = ispcube_lab.last_request("plans")
    assert login is not None
    assert data is not None
    assert {key: login.header(key) for key in ("api-key", "client-id", "login-type")} == {
        "api-key": API_KEY,
        "client-id": CLIENT_ID,
        "login-type": "api",
    }
    assert login.header("content-type") == "application/json"
    assert str(data.header("authorization")).startswith("Bearer 1|")
    assert {key: data.header(key) for key in ("api-key", "client-id", "login-type")} == {
        "api-key": API_KEY,
        "client-id": CLIENT_ID,
        "login-type": "api",
    }
    assert (data.header("accept"), data.header("username")) == ("application/json", USERNAME)


def test_nodes_in_a_data_envelope_are_accepted(ispcube: Make, ispcube_lab: ISPCubeLab) -> None:
    ispcube_lab.nodes_envelope = "data"

    assert ispcube().nodes() == ispcube_lab.billing.nodes


@pytest.mark.parametrize(
    ("page_size", "page_limit", "requests", "last_offset"),
    [
        pytest.param(20, None, 4, 60, id="short-last-page"),  # 20 + 20 + 20 + 2
        pytest.param(31, None, 3, 62, id="whole-pages"),  # 31 + 31 + an empty page
        pytest.param(100, None, 2, 62, id="first-page-short-of-limit"),  # 62 + an empty page
        pytest.param(100, 25, 3, 50, id="server-caps-limit"),  # 25 + 25 + 12
    ],
)
def test_customer_pages_end_at_an_empty_page_or_one_shorter_than_the_last(
    ispcube: Make,
    ispcube_lab: ISPCubeLab,
    page_size: int,
    page_limit: int | None,
    requests: int,
    last_offset: int,
) -> None:
    """The page before tells the server's real page size, whatever it made of `limit`: ending
    at a first page shorter than `limit` would drop the customers of a server that caps it."""
    ispcube_lab.page_limit = page_limit

    customers = ispcube(page_size=page_size).customers()

    assert len(ispcube_lab.billing.customers) == 62
    assert customers == ispcube_lab.billing.customers
    assert ispcube_lab.request_count("customers") == requests
    last = ispcube_lab.last_request("customers")
    assert last is not None
    assert last.query == {"limit": str(page_size), "offset": str(last_offset)}


def test_each_customer_page_tells_how_many_customers_arrived(ispcube: Make) -> None:
    told: list[tuple[int, int | None]] = []

    pages = list(ispcube(page_size=25).customer_pages(lambda *page: told.append(page)))

    assert [len(page) for page in pages] == [25, 25, 12]
    assert told == [(25, None), (50, None), (62, None)]  # ISPCube announces no total


def test_a_token_expiring_mid_run_costs_one_login_and_one_retry(
    ispcube: Make, ispcube_lab: ISPCubeLab
) -> None:
    client = ispcube(page_size=20)
    client.plans()
    ispcube_lab.expire_token_after = 3

    customers = client.customers()

    assert customers == ispcube_lab.billing.customers
    # 62 customers: pages at offsets 0, 20, 40, 60, the last short. The first token served
    # plans and two pages; the third page is refused, then asked again with a second token.
    assert (ispcube_lab.tokens_issued, ispcube_lab.request_count("customers")) == (2, 5)


def test_a_token_past_its_lifetime_is_renewed(ispcube: Make, billing: object) -> None:
    clock = LabClock()
    with ISPCubeLab(
        billing, API_KEY, CLIENT_ID, USERNAME, PASSWORD, token_ttl=3600, clock=clock
    ) as lab:
        client = ispcube(base_url=lab.url)
        client.plans()
        clock.advance(3601)

        client.plans()

    # login, plans, plans refused, login, plans again
    assert (lab.tokens_issued, client.requests_made) == (2, 5)


def test_a_fresh_token_refused_again_raises_auth_failed(
    ispcube: Make, ispcube_lab: ISPCubeLab
) -> None:
    ispcube_lab.expire_token_after = 0
    client = ispcube()

    with pytest.raises(AuthFailed) as caught:
        client.plans()

    assert str(caught.value) == (
        "ISPCube refused a fresh token at /plans/plans_list (401): check "
        "EMERALD_ISPCUBE_API_KEY, _CLIENT_ID, _USER and _PASSWORD"
    )
    assert client.requests_made == 4  # login, 401, login, 401


def test_a_403_on_a_data_call_is_auth_failed_without_a_new_login(
    ispcube: Make, ispcube_lab: ISPCubeLab
) -> None:
    """Unlike a 401, a 403 is the API user's permission: a fresh token is refused alike."""
    ispcube_lab.fault("customers", "status", status=403)
    client = ispcube()

    with pytest.raises(AuthFailed) as caught:
        client.customers()

    error = caught.value
    assert (error.status, error.retryable, error.stops_source) == ("auth_failed", False, False)
    assert str(error) == (
        f"ISPCube refused /customers/customers_list to API user {USERNAME!r} (403): the user "
        "lacks permission for it; grant it in ISPCube or set EMERALD_ISPCUBE_USER to a user "
        "that has it"
    )
    assert (ispcube_lab.tokens_issued, ispcube_lab.request_count("customers")) == (1, 1)
    assert client.requests_made == 2  # login, 403


def test_a_403_at_login_names_its_status(ispcube: Make, ispcube_lab: ISPCubeLab) -> None:
    ispcube_lab.fault("token", "status", status=403)
    client = ispcube()

    with pytest.raises(AuthFailed) as caught:
        client.plans()

    assert str(caught.value) == (
        "ISPCube rejected the credentials (403 at /sanctum/token): check "
        "EMERALD_ISPCUBE_API_KEY, _CLIENT_ID, _USER and _PASSWORD"
    )
    assert (caught.value.stops_source, client.requests_made) == (True, 1)


@pytest.mark.parametrize("wrong", ["api_key", "client_id", "username", "password"])
def test_wrong_credentials_raise_auth_failed_without_leaking_them(
    ispcube: Make, wrong: str
) -> None:
    client = ispcube(**{wrong: "wrong-value-123"})

    with pytest.raises(AuthFailed) as caught:
        client.customers()

    error = caught.value
    assert (error.status, error.retryable, client.requests_made) == ("auth_failed", False, 1)
    assert str(error) == (
        "ISPCube rejected the credentials (401 at /sanctum/token): check "
        "EMERALD_ISPCUBE_API_KEY, _CLIENT_ID, _USER and _PASSWORD"
    )
    secrets = (API_KEY, PASSWORD, "wrong-value-123") if wrong != "username" else (PASSWORD,)
    for secret in secrets:
        assert secret not in str(error)
        assert secret not in repr(client)


@pytest.mark.parametrize("status", [500, 502, 504])
def test_server_errors_are_retried_then_reported(
    ispcube: Make, ispcube_lab: ISPCubeLab, status: int
) -> None:
    ispcube_lab.fault("plans", "status", status=status)
    client = ispcube(retries=2)

    with pytest.raises(ApiError) as caught:
        client.plans()

    assert (caught.value.status, caught.value.retryable) == ("api_error", True)
    assert str(caught.value) == (
        f"ISPCube failed at /plans/plans_list ({status}, 'Server Error'): a fault on its side; "
        "try again later"
    )
    assert ispcube_lab.request_count("plans") == 3


def test_a_server_error_that_clears_is_absorbed_by_the_retries(
    ispcube: Make, ispcube_lab: ISPCubeLab
) -> None:
    ispcube_lab.fault("connections", "status", status=502, times=2)
    client = ispcube(retries=3)

    assert client.connections() == ispcube_lab.billing.connections
    assert ispcube_lab.request_count("connections") == 3


def test_rate_limit_without_hint_is_retried_with_backoff(
    ispcube: Make, ispcube_lab: ISPCubeLab
) -> None:
    ispcube_lab.fault("plans", "status", status=429, times=1)

    assert ispcube().plans() == ispcube_lab.billing.plans
    assert ispcube_lab.request_count("plans") == 2


@pytest.mark.parametrize("status", [400, 404, 422])
def test_other_client_errors_are_not_retried(
    ispcube: Make, ispcube_lab: ISPCubeLab, status: int
) -> None:
    ispcube_lab.fault("plans", "status", status=status)

    with pytest.raises(ApiError) as caught:
        ispcube().plans()

    assert caught.value.retryable is False
    assert ispcube_lab.request_count("plans") == 1


@pytest.mark.parametrize(
    ("mode", "error", "message"),
    [
        ("hang", Timeout, "ISPCube did not answer /plans/plans_list within 0.3s"),
        ("trickle", Timeout, "ISPCube sent /plans/plans_list too slowly"),
        (
            "reset",
            Unreachable,
            "ISPCube dropped the connection at {address} mid-answer to /plans/plans_list (",
        ),
        ("truncated", ApiError, "ISPCube answered /plans/plans_list with a body that is not JSON"),
        ("html_200", ApiError, "ISPCube answered /plans/plans_list with a body that is not JSON"),
    ],
)
def test_each_fault_ends_in_its_error(
    ispcube: Make,
    ispcube_lab: ISPCubeLab,
    mode: str,
    error: type[SourceError],
    message: str,
) -> None:
    ispcube_lab.fault("plans", mode)
    client = ispcube(read_timeout=0.3, total_timeout=0.5, retries=1)

    with pytest.raises(error) as caught:
        client.plans()

    assert str(caught.value).startswith(message.format(address=f"127.0.0.1:{ispcube_lab.port}"))
    attempts = 2 if error.retryable_by_default else 1
    assert ispcube_lab.request_count("plans") == attempts


def test_html_error_page_is_named_in_the_message(ispcube: Make, ispcube_lab: ISPCubeLab) -> None:
    ispcube_lab.fault("customers", "html_200")

    with pytest.raises(ApiError) as caught:
        ispcube().customers()

    assert str(caught.value) == (
        "ISPCube answered /customers/customers_list with a body that is not JSON (147 bytes, "
        "starting '<!DOCTYPE html><html><head><title>Service Unavailable</title'): the "
        "service is failing; try again later"
    )


def test_a_stopped_server_is_unreachable(ispcube: Make, ispcube_lab: ISPCubeLab) -> None:
    url = ispcube_lab.url
    ispcube_lab.stop()

    with pytest.raises(Unreachable) as caught:
        ispcube(base_url=url, retries=1).plans()

    assert caught.value.status == "unreachable"
    assert str(caught.value) == (
        f"ISPCube could not be reached at 127.0.0.1:{ispcube_lab.port} for /sanctum/token "
        "(connection refused): check the base URL and the network"
    )


def test_an_offset_the_server_ignores_is_caught(ispcube: Make, ispcube_lab: ISPCubeLab) -> None:
    ispcube_lab.fault("customers", "repeat_page")

    with pytest.raises(ApiError) as caught:
        ispcube(page_size=10).customers()

    assert str(caught.value) == (
        "ISPCube returned the same page twice at /customers/customers_list (offset 10): "
        "it ignores offset; report it to ISPCube"
    )
    assert ispcube_lab.request_count("customers") == 2


def test_a_listing_that_never_ends_is_cut_at_max_pages(
    ispcube: Make, ispcube_lab: ISPCubeLab
) -> None:
    ispcube_lab.fault("customers", "endless")
    client = ispcube(page_size=50, max_rows=500)

    with pytest.raises(ApiError) as caught:
        client.customers()

    assert client.max_pages == 11
    assert str(caught.value) == (
        "ISPCube sent 11 full pages of 50 at /customers/customers_list and no end to the "
        "listing; if the tenant really has more than 500 rows, raise [ispcube] max_customers, "
        "else report it to ISPCube"
    )
    assert ispcube_lab.request_count("customers") == 11


def test_a_broken_login_answer_shows_no_token(ispcube: Make, ispcube_lab: ISPCubeLab) -> None:
    ispcube_lab.fault("token", "truncated")

    with pytest.raises(SourceError) as caught:
        ispcube(retries=0).plans()

    assert '"token":"********' in str(caught.value)
    assert "|" not in str(caught.value)  # the lab's tokens read "<n>|<hex>"
