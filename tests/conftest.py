"""Shared fixtures: every database test runs on SQLite and, when configured, PostgreSQL.

PostgreSQL is used when EMERALD_TEST_POSTGRES_URL is set (CI sets it). Each test gets a schema
of its own, so tests never see each other's rows and need no cleanup order.
"""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

POSTGRES_URL = os.environ.get("EMERALD_TEST_POSTGRES_URL", "")


def pytest_configure(config: pytest.Config) -> None:
    """Let the processes the tests start be stopped by SIGINT, as from a terminal's Ctrl-C.

    A suite started in the background by a shell (`make test &`, some CI runners) inherits
    SIGINT ignored, and so would every `emerald` it starts: Python keeps an inherited ignore.
    A handler of our own is reset to the default in each child, which Python then honours.
    """
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _backends() -> list[object]:
    postgres = pytest.param(
        "postgresql",
        marks=pytest.mark.skipif(not POSTGRES_URL, reason="EMERALD_TEST_POSTGRES_URL is not set"),
    )
    return ["sqlite", postgres]


@pytest.fixture(autouse=True)
def private_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test writes the real ~/.local/share/emerald (its log file above all)."""
    monkeypatch.setenv("EMERALD_HOME", str(tmp_path / "emerald-home"))


@pytest.fixture(params=_backends())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'emerald.db'}"
        return

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()
