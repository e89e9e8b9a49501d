"""The error tree: statuses, retry hints and pickling across the process pool."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime

import pytest

from emerald_cli.sources.errors import (
    STATUSES,
    ApiError,
    AuthFailed,
    DataError,
    Forbidden,
    RateLimited,
    SourceError,
    Timeout,
    Unreachable,
)


def round_trip(error: SourceError) -> SourceError:
    return pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes


@pytest.mark.parametrize(
    ("cls", "status", "retryable"),
    [
        (Unreachable, "unreachable", True),
        (Timeout, "timeout", True),
        (AuthFailed, "auth_failed", False),
        (Forbidden, "auth_failed", False),
        (ApiError, "api_error", False),
        (DataError, "data_error", False),
    ],
)
def test_each_error_knows_its_status_and_survives_pickling(
    cls: type[SourceError], status: str, retryable: bool
) -> None:
    error = cls("ISPCube failed at /plans/plans_list: try again later")

    copy = round_trip(error)

    assert status in STATUSES
    assert (copy.status, copy.retryable, str(copy)) == (
        status,
        retryable,
        "ISPCube failed at /plans/plans_list: try again later",
    )
    assert type(copy) is cls
    assert isinstance(copy, SourceError)


def test_retryable_can_be_set_per_error() -> None:
    error = ApiError("SmartOLT failed at /onu/get_onus_signals (502)", retryable=True)

    copy = round_trip(error)

    assert copy.retryable is True


def test_rate_limited_keeps_method_and_moment_through_pickling() -> None:
    moment = datetime(2025, 1, 1, 12, 30, tzinfo=UTC)
    error = RateLimited("get_all_onus_details", moment)

    copy = round_trip(error)

    assert (copy.method, copy.retry_after, copy.status, copy.retryable) == (
        "get_all_onus_details",
        moment,
        "rate_limited",
        False,
    )
    assert str(copy) == (
        "rate limit reached for get_all_onus_details: calls stopped, try again after "
        "2025-01-01T12:30:00+00:00 or poll less often"
    )


def test_rate_limited_without_a_hint() -> None:
    copy = round_trip(RateLimited("get_onus_signals"))

    assert copy.retry_after is None
    assert "try again after a while" in str(copy)
