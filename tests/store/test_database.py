"""make_engine and the limits and connection checks read from the live database."""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from emerald_cli.store.database import (
    check_connection,
    make_engine,
    max_bind_parameters,
    normalise_url,
)
from emerald_cli.store.errors import DatabaseUnavailable, StoreError


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port nothing listens on (bound, never listening)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://u:pw@db:5432/erp", "postgresql+psycopg://u:pw@db:5432/erp"),
        ("postgresql://u@db/erp", "postgresql+psycopg://u@db/erp"),
        ("postgresql+psycopg://u@db/erp", "postgresql+psycopg://u@db/erp"),
        ("sqlite:///var/emerald.db", "sqlite:///var/emerald.db"),
    ],
)
def test_urls_are_sent_to_psycopg(url: str, expected: str) -> None:
    assert normalise_url(url).render_as_string(hide_password=False) == expected


def test_other_databases_are_refused() -> None:
    with pytest.raises(StoreError, match="unsupported database 'mysql'"):
        make_engine("mysql://u@db/erp")


def test_sqlite_file_gets_wal_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    path = tmp_path / "emerald.db"
    engine = make_engine(f"sqlite:///{path}")

    with engine.connect() as conn:
        pragmas = [
            conn.exec_driver_sql(f"PRAGMA {name}").scalar_one()
            for name in ("journal_mode", "busy_timeout", "foreign_keys")
        ]
    engine.dispose()

    assert pragmas == ["wal", 30000, 1]
    assert path.exists()


def test_max_bind_parameters_is_the_live_limit(database_url: str) -> None:
    engine = make_engine(database_url)
    if engine.dialect.name == "sqlite":
        expected = sqlite3.connect(":memory:").getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    else:
        expected = 65535

    with engine.connect() as conn:
        from_connection = max_bind_parameters(conn)

    assert (max_bind_parameters(engine), from_connection) == (expected, expected)
    engine.dispose()


def test_postgres_engine_pings_before_use(database_url: str) -> None:
    engine = make_engine(database_url)

    check_connection(engine)

    if engine.dialect.name == "postgresql":
        assert engine.pool._pre_ping is True
    engine.dispose()


def test_unreachable_postgres_is_database_unavailable(closed_port: int) -> None:
    engine = make_engine(f"postgresql://emerald:hunter2@127.0.0.1:{closed_port}/erp")

    with pytest.raises(DatabaseUnavailable) as unavailable:
        check_connection(engine)

    message = str(unavailable.value)
    url = f"postgresql+psycopg://emerald:***@127.0.0.1:{closed_port}/erp"
    assert message.startswith(f"cannot connect to the database {url}: ")
    assert "hunter2" not in message
    assert isinstance(unavailable.value.__cause__, sa.exc.OperationalError)


def test_a_sqlite_file_in_a_missing_folder_is_refused(tmp_path: Path) -> None:
    """A typo in the path must not start an empty database in a new folder."""
    missing = tmp_path / "typo" / "emerald.db"

    with pytest.raises(DatabaseUnavailable) as refused:
        make_engine(f"sqlite:///{missing}")

    assert str(refused.value) == (
        f"cannot connect to the database sqlite:///{missing}: the folder {missing.parent} "
        "does not exist: create it, or fix the path in the URL"
    )
    assert not missing.parent.exists()


def test_unopenable_sqlite_file_is_database_unavailable(tmp_path: Path) -> None:
    folder = tmp_path / "a-folder"
    folder.mkdir()
    engine = make_engine(f"sqlite:///{folder}")

    with pytest.raises(DatabaseUnavailable, match="unable to open database file"):
        check_connection(engine)
