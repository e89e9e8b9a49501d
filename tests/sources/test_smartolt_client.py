"""SmartOLTClient against the lab account over real HTTP: streams, paging, the account's rate
limits in both styles, a simulated day of polling, and every injected fault."""

from __future__ import annotations

import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from emerald_cli.lab.billing import Billing
from emerald_cli.lab.saas import LabClock
from emerald_cli.lab.smartolt import SmartOLTLab
from emerald_cli.sources.errors import (
    ApiError,
    AuthFailed,
    RateLimited,
    SourceError,
    Timeout,
    Unreachable,
)
from emerald_cli.sources.http import JsonTransport, RetryPolicy
from emerald_cli.sources.smartolt import SmartOLTClient
from tests.sources.conftest import SMARTOLT_TOKEN

Make = Callable[..., SmartOLTClient]


def test_reads_the_four_streams(smartolt: Make, smartolt_lab: SmartOLTLab) -> None:
    billing = smartolt_lab.billing
    client = smartolt(page_size=20)

    assert client.olts() == billing.olts
    assert client.onus() == billing.onu_details()
    assert client.statuses() == billing.statuses()
    assert client.signals() == billing.signals()
    assert len(billing.onus) == 48
    # olts, 3 pages of ONUs (20 + 20 + 8), statuses, signals; no full export spent.
    assert client.requests_made == 6
    assert smartolt_lab.request_count("onus") == 3
    last = smartolt_lab.last_request("onus")
    assert last is not None
    assert last.query == {"page": "3", "page_size": "20"}


def test_each_onu_page_tells_how_many_of_the_announced_onus_arrived(
    smartolt: Make, smartolt_lab: SmartOLTLab
) -> None:
    paged: list[tuple[int, int | None]] = []
    exported: list[tuple[int, int | None]] = []

    pages = list(smartolt(page_size=20).onu_pages(lambda *told: paged.append(told)))
    list(smartolt(full_export=True).onu_pages(lambda *told: exported.append(told)))

    assert [len(page) for page in pages] == [20, 20, 8]
    assert paged == [(20, 48), (40, 48), (48, 48)]
    assert exported == [(48, 48)]


def test_the_token_goes_in_x_token(smartolt: Make, smartolt_lab: SmartOLTLab) -> None:
    smartolt().olts()

    last = smartolt_lab.last_request("olts")
    assert last is not None
    assert (last.header("x-token"), last.header("authorization")) == (SMARTOLT_TOKEN, None)


def test_full_export_is_one_request_when_configured(
    smartolt: Make, smartolt_lab: SmartOLTLab
) -> None:
    client = smartolt(full_export=True)

    assert client.onus() == smartolt_lab.billing.onu_details()
    assert client.requests_made == 1
    assert smartolt_lab.last_request("onus").query == {}  # type: ignore[union-attr]


def test_nothing_listening_is_unreachable_naming_the_url(smartolt: Make) -> None:
    with socket.socket() as bound:  # bound, never listening: the connection is refused
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        client = smartolt(base_url=f"http://127.0.0.1:{port}/api", retries=0)

        with pytest.raises(Unreachable) as caught:
            client.olts()

    assert str(caught.value) == (
        f"SmartOLT could not be reached at 127.0.0.1:{port} for "
        "/system/get_olts (connection refused): check the base URL and the network"
    )


def test_a_wrong_token_is_auth_failed_and_not_leaked(smartolt: Make) -> None:
    client = smartolt(token="not-the-token-0000")

    with pytest.raises(AuthFailed) as caught:
        client.statuses()

    assert str(caught.value) == (
        "SmartOLT refused the request (403 at /onu/get_onus_statuses): check "
        "EMERALD_SMARTOLT_TOKEN (the API key from Settings → API key)"
    )
    assert client.requests_made == 1
    assert "not-the-token-0000" not in repr(client)


def test_an_unknown_method_is_an_api_error(smartolt: Make, smartolt_lab: SmartOLTLab) -> None:
    client = smartolt(base_url=smartolt_lab.url + "/v9")

    with pytest.raises(ApiError) as caught:
        client.olts()

    assert str(caught.value) == (
        "SmartOLT rejected /system/get_olts (405, 'Unknown method'): the request is not "
        "accepted; check the base URL and the API version"
    )
    assert client.requests_made == 1


def test_full_export_limit_answered_429_stops_the_client(smartolt: Make, billing: Billing) -> None:
    clock = LabClock()
    with SmartOLTLab(billing, SMARTOLT_TOKEN, full_export_per_hour=2, clock=clock) as lab:
        client = smartolt(base_url=lab.url, full_export=True)
        client.onus()
        client.onus()
        before = datetime.now(UTC)

        with pytest.raises(RateLimited) as caught:
            client.onus()

    error = caught.value
    assert (error.status, error.method, error.retryable) == (
        "rate_limited",
        "get_all_onus_details",
        False,
    )
    assert error.retry_after is not None
    # One full export comes back every 1,800 s.
    assert before + timedelta(seconds=1790) < error.retry_after < before + timedelta(seconds=1810)
    assert (client.requests_made, lab.rate_limited_answers) == (3, 1)


def test_hourly_limit_answered_403_with_retry_after_is_a_rate_limit(
    smartolt: Make, billing: Billing
) -> None:
    """SmartOLT also answers its limits with 403 + Retry-After: not a refused key."""
    error, client = _refused(
        smartolt, billing, ["statuses", "signals", "olts"], style="403", hourly_budget=2
    )

    before = datetime.now(UTC)
    assert (error.status, error.method, error.retryable, error.stops_source) == (
        "rate_limited",
        "get_olts",
        False,
        True,
    )
    assert error.retry_after is not None
    # A budget of 2 an hour gives one call back every 1,800 s.
    assert before + timedelta(seconds=1790) < error.retry_after < before + timedelta(seconds=1810)
    assert str(error) == (
        "SmartOLT rate limit reached for get_olts (403 at /system/get_olts): calls stopped; "
        f"try again after {error.retry_after.isoformat(timespec='seconds')} or poll less often"
    )
    assert client.requests_made == 3


def test_a_403_without_retry_after_stays_auth_failed(
    smartolt: Make, smartolt_lab: SmartOLTLab
) -> None:
    smartolt_lab.fault("signals", "status", status=403)
    client = smartolt()

    with pytest.raises(AuthFailed) as caught:
        client.signals()

    assert (caught.value.status, caught.value.retryable) == ("auth_failed", False)
    assert str(caught.value) == (
        "SmartOLT refused the request (403 at /onu/get_onus_signals): check "
        "EMERALD_SMARTOLT_TOKEN (the API key from Settings → API key)"
    )
    assert client.requests_made == 1


def test_hourly_limit_answered_200_surfaces_as_rate_limited(
    smartolt: Make, billing: Billing
) -> None:
    error, client = _refused(
        smartolt, billing, ["statuses", "signals", "statuses"], hourly_budget=2
    )

    before = datetime.now(UTC)
    assert error.method == "get_onus_statuses"
    # No time in the answer: an hour from now, since SmartOLT's budgets are hourly.
    assert timedelta(minutes=59) < error.retry_after - before <= timedelta(hours=1)
    assert str(error) == (
        "SmartOLT rate limit reached for get_onus_statuses (200 with 'You have reached the "
        "hourly limit for this method'): calls stopped; try again next hour or poll less often"
    )
    assert client.requests_made == 3


def _refused(
    smartolt: Make, billing: Billing, calls: list[str], style: str = "200", **limits: int
) -> tuple[RateLimited, SmartOLTClient]:
    """The RateLimited that the last of `calls` meets on a lab answering limits in `style`
    (a 200 by default), on a clock that stands still."""
    with SmartOLTLab(
        billing, SMARTOLT_TOKEN, rate_limit_style=style, clock=LabClock(), **limits
    ) as lab:
        client = smartolt(base_url=lab.url)
        for call in calls[:-1]:
            getattr(client, call)()

        with pytest.raises(RateLimited) as caught:
            getattr(client, calls[-1])()
    return caught.value, client


def test_an_hourly_limit_is_not_waited_for_even_when_its_retry_after_is_short(
    smartolt: Make, billing: Billing
) -> None:
    clock = LabClock()
    with SmartOLTLab(billing, SMARTOLT_TOKEN, hourly_budget=2, clock=clock) as lab:
        client = smartolt(base_url=lab.url)
        client.statuses()
        client.signals()
        clock.advance(1799)  # the budget's next call is a second away

        with pytest.raises(RateLimited) as caught:
            client.olts()

    assert "try again after" in str(caught.value)
    assert (client.requests_made, lab.rate_limited_answers) == (3, 1)


def test_rate_limits_that_go_on_stop_the_calls(billing: Billing) -> None:
    policy = RetryPolicy(retries=5, backoff_on_rate_limit=False, rate_limit_wait_max=1.5)
    with SmartOLTLab(billing, SMARTOLT_TOKEN, burst_per_s=1, clock=LabClock()) as lab:
        transport = JsonTransport("SmartOLT", lab.url, policy=policy)
        headers = {"X-Token": SMARTOLT_TOKEN}
        transport.call("GET", "/system/get_olts", headers=headers)

        with pytest.raises(RateLimited):
            transport.call("GET", "/system/get_olts", headers=headers)
        transport.close()

    # One wait of a second was allowed; the next would have gone past 1.5 s in all.
    assert (transport.requests_made, lab.rate_limited_answers) == (3, 2)
    assert 0.9 < transport.rate_limit_waited < 1.5


def test_a_burst_answered_200_is_a_rate_limit_for_a_minute(
    smartolt: Make, billing: Billing
) -> None:
    error, _ = _refused(smartolt, billing, ["olts", "olts"], burst_per_s=1)

    before = datetime.now(UTC)
    assert timedelta(seconds=50) < error.retry_after - before <= timedelta(minutes=1)
    assert "try again in a minute, or set [smartolt] full_export = true" in str(error)


@pytest.mark.parametrize("style", ["429", "403"])
def test_a_short_retry_after_is_waited_for_once(
    smartolt: Make, billing: Billing, style: str
) -> None:
    with SmartOLTLab(billing, SMARTOLT_TOKEN, burst_per_s=2, rate_limit_style=style) as lab:
        client = smartolt(base_url=lab.url)

        rows = [client.statuses(), client.signals(), client.olts()]

    assert rows[2] == billing.olts
    assert (client.requests_made, lab.rate_limited_answers) == (4, 1)


def test_a_short_retry_after_beyond_the_configured_wait_stops(
    smartolt: Make, billing: Billing
) -> None:
    clock = LabClock()
    with SmartOLTLab(billing, SMARTOLT_TOKEN, burst_per_s=2, clock=clock) as lab:
        client = smartolt(base_url=lab.url, retry_after_max=0)
        client.statuses()
        client.signals()

        with pytest.raises(RateLimited):
            client.olts()

    assert client.requests_made == 3


def test_a_day_of_polling_every_five_minutes_stays_within_the_limits(
    smartolt: Make, billing: Billing
) -> None:
    clock = LabClock()
    with SmartOLTLab(billing, SMARTOLT_TOKEN, clock=clock) as lab:
        # The lab's clock is simulated: spacing calls in real time would only slow the test.
        client = smartolt(base_url=lab.url, page_size=10, calls_per_second=10**6)
        for _ in range(24 * 12):
            client.statuses()
            client.signals()
            client.onus()
            clock.advance(300)

    # 48 ONUs in pages of 10: 7 calls every 5 minutes, 84 an hour against a budget of 1,000.
    assert lab.rate_limited_answers == 0
    assert client.requests_made == 24 * 12 * 7
    assert lab.request_count("onus") == 24 * 12 * 5


def test_calls_are_spaced_to_stay_under_the_burst_limit(smartolt: Make, billing: Billing) -> None:
    with SmartOLTLab(billing, SMARTOLT_TOKEN, burst_per_s=8) as lab:
        paced = smartolt(base_url=lab.url, page_size=5, calls_per_second=8)
        assert paced.onus() == billing.onu_details()
        assert lab.rate_limited_answers == 0

        unpaced = smartolt(base_url=lab.url, page_size=5, calls_per_second=10**6, retries=0)
        with pytest.raises(RateLimited):
            unpaced.onus()

    assert paced.requests_made == 10
    assert lab.rate_limited_answers == 1


@pytest.mark.parametrize("status", [500, 502, 504])
def test_server_errors_are_retried_then_reported(
    smartolt: Make, smartolt_lab: SmartOLTLab, status: int
) -> None:
    smartolt_lab.fault("signals", "status", status=status)

    with pytest.raises(ApiError) as caught:
        smartolt(retries=2).signals()

    assert caught.value.retryable is True
    assert smartolt_lab.request_count("signals") == 3


@pytest.mark.parametrize(
    ("mode", "error", "message"),
    [
        ("hang", Timeout, "SmartOLT did not answer /onu/get_onus_signals within 0.3s"),
        ("trickle", Timeout, "SmartOLT sent /onu/get_onus_signals too slowly"),
        ("reset", Unreachable, "SmartOLT dropped the connection at {address} mid-answer to"),
        ("truncated", ApiError, "SmartOLT answered /onu/get_onus_signals with a body that is"),
        ("html_200", ApiError, "SmartOLT answered /onu/get_onus_signals with a body that is"),
    ],
)
def test_each_fault_ends_in_its_error(
    smartolt: Make,
    smartolt_lab: SmartOLTLab,
    mode: str,
    error: type[SourceError],
    message: str,
) -> None:
    smartolt_lab.fault("signals", mode)

    with pytest.raises(error) as caught:
        smartolt(read_timeout=0.3, total_timeout=0.5, retries=1).signals()

    assert str(caught.value).startswith(message.format(address=f"127.0.0.1:{smartolt_lab.port}"))
    attempts = 2 if error.retryable_by_default else 1
    assert smartolt_lab.request_count("signals") == attempts


def test_a_listing_that_comes_up_short_fails(smartolt: Make, smartolt_lab: SmartOLTLab) -> None:
    """ONUs deleted while the pages are read: the later pages come back empty or short, and a
    sync that stored the rest would mark the missed ONUs removed."""
    onus = smartolt_lab.billing.onus
    pages = smartolt(page_size=10).onu_pages()
    first = next(pages)
    del onus[10:40]

    with pytest.raises(ApiError) as caught:
        list(pages)

    assert len(first) == 10
    assert str(caught.value) == (
        "SmartOLT ended the ONU listing short at /onu/get_all_onus_details (page 3 of 5 empty, "
        "18 of 48 ONUs): ONUs changed while it was read, or the service is failing; nothing "
        "was written, try again"
    )


def test_fewer_onus_than_announced_fails(smartolt: Make, smartolt_lab: SmartOLTLab) -> None:
    onus = smartolt_lab.billing.onus
    pages = smartolt(page_size=10).onu_pages()
    next(pages)
    del onus[0:5]  # every later page shifts by five: five ONUs are never served

    with pytest.raises(ApiError, match=r"\(all 5 pages read, 43 of 48 ONUs\)"):
        list(pages)


def test_a_page_served_twice_is_caught(smartolt: Make, smartolt_lab: SmartOLTLab) -> None:
    onus = smartolt_lab.billing.onus
    onus[10:20] = onus[0:10]

    with pytest.raises(ApiError) as caught:
        smartolt(page_size=10).onus()

    assert str(caught.value) == (
        "SmartOLT returned the same page twice at /onu/get_all_onus_details (page 2): it "
        "ignores page; set full_export or report it to SmartOLT"
    )
