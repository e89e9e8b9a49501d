"""JsonTransport's waits between attempts over real HTTP against the lab: exponential backoff
with jitter, and a vendor's Retry-After honoured. Each wait is read from the retry log line,
which carries the exact seconds tenacity then sleeps, and checked against the clock."""

from __future__ import annotations

import logging
import time
from contextlib import closing

import pytest

from emerald_cli.lab.smartolt import SmartOLTLab
from emerald_cli.sources.errors import ApiError, SourceError
from emerald_cli.sources.http import JsonTransport, RetryPolicy
from tests.sources.conftest import SMARTOLT_TOKEN

HEADERS = {"X-Token": SMARTOLT_TOKEN}
SIGNALS = "/onu/get_onus_signals"


def retry_waits(caplog: pytest.LogCaptureFixture) -> list[float]:
    """The seconds waited before each retry: the last argument of the transport's log line
    "vendor=%s status=%s attempt=%d retry_in=%.2fs", unrounded."""
    return [
        float(record.args[-1])  # type: ignore[index]
        for record in caplog.records
        if record.name == "emerald_cli.sources.http" and "retry_in" in record.msg
    ]


def test_backoff_doubles_with_each_attempt_and_adds_jitter(
    smartolt_lab: SmartOLTLab, caplog: pytest.LogCaptureFixture
) -> None:
    smartolt_lab.fault("signals", "status", status=502)
    policy = RetryPolicy(retries=4, backoff=0.05)
    caplog.set_level(logging.INFO, logger="emerald_cli.sources.http")

    with closing(JsonTransport("SmartOLT", smartolt_lab.url, policy=policy)) as transport:
        started = time.monotonic()
        with pytest.raises(ApiError):
            transport.call("GET", SIGNALS, headers=HEADERS)
        elapsed = time.monotonic() - started

    waits = retry_waits(caplog)
    # Attempt n waits 0.05 * 2^(n-1) seconds, plus up to 0.05 s of jitter.
    floors = [0.05, 0.1, 0.2, 0.4]
    jitters = [wait - floor for wait, floor in zip(waits, floors, strict=True)]
    assert all(0 <= jitter <= 0.05 for jitter in jitters)
    assert len(set(jitters)) == 4  # drawn afresh each time, not one fixed offset
    assert (smartolt_lab.request_count("signals"), transport.retries_made) == (5, 4)
    assert sum(waits) <= elapsed < sum(waits) + 1.0


def test_backoff_stops_growing_at_its_maximum(
    smartolt_lab: SmartOLTLab, caplog: pytest.LogCaptureFixture
) -> None:
    smartolt_lab.fault("signals", "status", status=502)
    policy = RetryPolicy(retries=4, backoff=0.02, backoff_max=0.05)
    caplog.set_level(logging.INFO, logger="emerald_cli.sources.http")

    with (
        closing(JsonTransport("SmartOLT", smartolt_lab.url, policy=policy)) as transport,
        pytest.raises(ApiError),
    ):
        transport.call("GET", SIGNALS, headers=HEADERS)

    # 0.02, 0.04, then capped at 0.05; each plus up to 0.02 s of jitter.
    floors = [0.02, 0.04, 0.05, 0.05]
    waits = retry_waits(caplog)
    assert all(0 <= wait - floor <= 0.02 for wait, floor in zip(waits, floors, strict=True))


@pytest.mark.parametrize(
    ("status", "retry_after", "retry_after_max", "waited"),
    [
        pytest.param(429, 1, 60.0, 1.0, id="429"),
        pytest.param(403, 1, 60.0, 1.0, id="403-with-retry-after"),
        pytest.param(503, 1, 60.0, 1.0, id="503"),
        pytest.param(503, 30, 0.3, 0.3, id="503-beyond-the-maximum"),
    ],
)
def test_retry_after_is_honoured_up_to_the_policy_maximum(
    smartolt_lab: SmartOLTLab,
    caplog: pytest.LogCaptureFixture,
    status: int,
    retry_after: int,
    retry_after_max: float,
    waited: float,
) -> None:
    """The vendor's hint replaces the backoff (0.01 s here); a 5xx asking for longer than the
    policy allows is retried after the policy's maximum."""
    smartolt_lab.fault("signals", "status", status=status, times=1, retry_after=retry_after)
    policy = RetryPolicy(retries=1, backoff=0.01, retry_after_max=retry_after_max)
    caplog.set_level(logging.INFO, logger="emerald_cli.sources.http")

    with closing(JsonTransport("SmartOLT", smartolt_lab.url, policy=policy)) as transport:
        started = time.monotonic()
        body = transport.call("GET", SIGNALS, headers=HEADERS)
        elapsed = time.monotonic() - started

    assert body["response"] == smartolt_lab.billing.signals()
    assert retry_waits(caplog) == [waited]
    assert waited <= elapsed < waited + 1.0
    assert smartolt_lab.request_count("signals") == 2


def test_a_retry_after_beyond_the_maximum_on_a_rate_limit_is_not_waited_for(
    smartolt_lab: SmartOLTLab, caplog: pytest.LogCaptureFixture
) -> None:
    smartolt_lab.fault("signals", "status", status=429, times=1, retry_after=30)
    policy = RetryPolicy(retries=3, backoff=0.01, retry_after_max=5.0)
    caplog.set_level(logging.INFO, logger="emerald_cli.sources.http")

    with closing(JsonTransport("SmartOLT", smartolt_lab.url, policy=policy)) as transport:
        started = time.monotonic()
        with pytest.raises(SourceError) as caught:
            transport.call("GET", SIGNALS, headers=HEADERS)
        elapsed = time.monotonic() - started

    assert (caught.value.status, caught.value.retryable) == ("rate_limited", False)
    assert retry_waits(caplog) == []
    assert elapsed < 1.0
    assert smartolt_lab.request_count("signals") == 1
