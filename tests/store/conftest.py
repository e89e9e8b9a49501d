"""Engines on a fresh database, empty or already migrated to head."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from emerald_cli.store.database import make_engine
from emerald_cli.store.migrate import upgrade

# Every migration, in order: a new one is added here on purpose, with its tests.
REVISIONS = ["0001", "0002", "0003", "0004", "0005", "0006", "0007", "0008", "0009"]


def revisions_after(revision: str) -> list[str]:
    """The migrations an upgrade applies to a database at `revision`."""
    return REVISIONS[REVISIONS.index(revision) + 1 :]


@pytest.fixture
def empty_engine(database_url: str) -> Iterator[sa.Engine]:
    """An engine on a database with no tables at all."""
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def engine(empty_engine: sa.Engine) -> sa.Engine:
    """An engine on a database migrated to head."""
    upgrade(empty_engine)
    return empty_engine
