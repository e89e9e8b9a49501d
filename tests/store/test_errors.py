"""Every store error survives pickling, as it must to cross the process pool."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime

import pytest

from emerald_cli.store.errors import (
    DatabaseUnavailable,
    LockHeld,
    SchemaNewer,
    SchemaOutdated,
    StoreError,
)

SINCE = datetime(2024, 12, 3, 10, 2, 3, tzinfo=UTC)
HEARTBEAT = datetime(2024, 12, 3, 10, 4, 13, tzinfo=UTC)

ERRORS = [
    StoreError("the lock kept changing hands"),
    DatabaseUnavailable("postgresql+psycopg://emerald:***@db:5432/erp", "Connection refused"),
    DatabaseUnavailable("sqlite:///typo/x.db", "the folder typo does not exist", True),
    SchemaOutdated(None, ["0001"]),
    SchemaOutdated("0001", ["0002", "0003"]),
    SchemaNewer("0009"),
    LockHeld("mikrotik", 12, "noc-1:4242", SINCE, HEARTBEAT),
]


@pytest.mark.parametrize("error", ERRORS, ids=lambda error: type(error).__name__)
def test_error_round_trips_through_pickle(error: StoreError) -> None:
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes

    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert vars(copy) == vars(error)


def test_lock_held_names_the_run_its_host_and_when() -> None:
    error = LockHeld("mikrotik", 12, "noc-1:4242", SINCE, HEARTBEAT)

    assert str(error) == (
        "another mikrotik sync is running: run 12 on noc-1:4242 since 10:02:03 UTC "
        "(last heartbeat 10:04:13 UTC)"
    )
    assert error.retryable is True


def test_schema_outdated_says_what_to_run() -> None:
    assert str(SchemaOutdated(None, ["0001"])) == (
        "the database schema is out of date: it has no emerald tables yet and "
        "1 migration(s) are pending (0001); run `emerald db upgrade`"
    )
    assert str(SchemaOutdated("0001", ["0002", "0003"])).endswith(
        "it is at revision 0001 and 2 migration(s) are pending (0002, 0003); "
        "run `emerald db upgrade`"
    )


def test_an_unavailable_database_is_worth_retrying_a_wrong_url_and_schema_errors_not() -> None:
    assert DatabaseUnavailable("sqlite:///x.db", "disk I/O error").retryable is True
    assert DatabaseUnavailable("sqlite:///typo/x.db", "no folder", True).retryable is False
    assert SchemaOutdated(None, ["0001"]).retryable is False
    assert SchemaNewer("0009").retryable is False
