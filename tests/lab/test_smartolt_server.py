"""The fake SmartOLT as a client sees it over HTTP: X-Token, envelopes, paging, rate limits."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
import requests

from emerald_cli.lab.billing import Billing, build_billing
from emerald_cli.lab.dataset import build_fleet
from emerald_cli.lab.saas import LabClock
from emerald_cli.lab.smartolt import SmartOLTLab

TOKEN = secrets.token_hex(16)


@pytest.fixture
def billing() -> Billing:
    return build_billing(build_fleet(seed=7, routers=3, secrets=20))


@pytest.fixture
def clock() -> LabClock:
    return LabClock()


@pytest.fixture
def smartolt(billing: Billing, clock: LabClock) -> Iterator[SmartOLTLab]:
    with SmartOLTLab(billing, TOKEN, clock=clock) as lab:
        yield lab


def get(lab: SmartOLTLab, path: str, token: str = TOKEN, **params: object) -> requests.Response:
    return requests.get(f"{lab.url}{path}", params=params, headers={"X-Token": token}, timeout=5)


def test_a_wrong_token_is_403_and_an_unknown_path_405(smartolt: SmartOLTLab) -> None:
    wrong = get(smartolt, "/system/get_olts", token="nope")
    unknown = get(smartolt, "/onu/get_all_onus_status")

    assert (wrong.status_code, wrong.json()) == (
        403,
        {"status": False, "error": "Invalid or missing API key"},
    )
    assert (unknown.status_code, unknown.json()) == (
        405,
        {"status": False, "error": "Unknown method"},
    )


def test_listings_use_the_response_envelope(smartolt: SmartOLTLab) -> None:
    signals = get(smartolt, "/onu/get_onus_signals", olt_id="9").json()

    assert list(signals) == ["status", "response_code", "response"]
    assert (signals["status"], signals["response_code"]) == (True, "success")
    assert signals["response"] == smartolt.billing.signals()
    assert len(signals["response"]) == 48


def test_paged_and_full_onu_exports(smartolt: SmartOLTLab) -> None:
    page = get(smartolt, "/onu/get_all_onus_details", page=3, page_size=20).json()
    full = get(smartolt, "/onu/get_all_onus_details").json()

    assert {key: page[key] for key in ("page", "page_size", "total_items", "total_pages")} == {
        "page": 3,
        "page_size": 20,
        "total_items": 48,
        "total_pages": 3,
    }
    assert page["onus"] == smartolt.billing.onu_details()[40:]
    assert (full["status"], full["onus"]) == (True, smartolt.billing.onu_details())
    assert all(
        isinstance(value, str | None)
        for value in full["onus"][0].values()
        if not isinstance(value, list)
    )


@pytest.mark.parametrize("size", [0, 101, "x"])
def test_page_size_outside_1_to_100_is_refused(smartolt: SmartOLTLab, size: object) -> None:
    answer = get(smartolt, "/onu/get_all_onus_details", page=1, page_size=size)

    assert (answer.status_code, answer.json()["status"]) == (400, False)


def test_the_full_export_has_its_own_hourly_bucket(smartolt: SmartOLTLab, clock: LabClock) -> None:
    codes = [get(smartolt, "/onu/get_all_onus_details").status_code for _ in range(16)]
    refused = get(smartolt, "/onu/get_all_onus_details")
    clock.advance(1)  # past the burst limit, still inside the full-export hour
    paged = get(smartolt, "/onu/get_all_onus_details", page=1)
    full = get(smartolt, "/onu/get_all_onus_details")
    clock.advance(239)
    again = get(smartolt, "/onu/get_all_onus_details")

    assert codes == [200] * 15 + [429]
    assert (refused.headers["Retry-After"], refused.json()) == (
        "240",
        {"status": False, "error": "You have reached the hourly limit for this method"},
    )
    assert (paged.status_code, full.status_code, again.status_code) == (200, 429, 200)
    assert smartolt.rate_limited_answers == 3


def test_the_hourly_budget_and_the_200_style(billing: Billing, clock: LabClock) -> None:
    with SmartOLTLab(
        billing, TOKEN, hourly_budget=5, burst_per_s=100, rate_limit_style="200", clock=clock
    ) as lab:
        answers = [get(lab, "/onu/get_onus_statuses") for _ in range(6)]

    assert [a.status_code for a in answers] == [200] * 6
    assert answers[-1].json() == {
        "status": False,
        "error": "You have reached the hourly limit for this method",
    }
    assert answers[4].json()["status"] is True


def test_bursts_above_the_per_second_limit_are_refused(
    smartolt: SmartOLTLab, clock: LabClock
) -> None:
    answers = [get(smartolt, "/system/get_olts") for _ in range(16)]
    clock.advance(1)
    after = get(smartolt, "/system/get_olts")

    assert [answer.status_code for answer in answers] == [200] * 15 + [429]
    assert "hour" not in answers[-1].json()["error"]  # a burst is not the hourly budget
    assert after.status_code == 200
    assert smartolt.request_count("olts") == 17


@pytest.mark.parametrize("mode", ["repeat_page", "endless"])
def test_the_offset_list_faults_are_refused_at_every_endpoint(
    smartolt: SmartOLTLab, mode: str
) -> None:
    """SmartOLT pages by page number: ISPCube's offset faults would change nothing here."""
    for endpoint in smartolt.paths:
        with pytest.raises(ValueError, match=f"fault mode {mode!r} changes nothing at"):
            smartolt.fault(endpoint, mode)
