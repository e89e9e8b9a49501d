"""A running lab fleet and the helpers to sync it, shared by the engine and command tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from emerald_cli.config import load_inventory
from emerald_cli.engine.database import open_store
from emerald_cli.engine.run import RunReport
from emerald_cli.lab.dataset import Fleet, build_fleet
from emerald_cli.lab.routeros.inventory import write_inventory
from emerald_cli.lab.routeros.server import RouterLab
from emerald_cli.sources.mikrotik.poll import RouterTarget
from emerald_cli.store import schema


class LabWorld:
    """A lab fleet on loopback plus an inventory file pointing at it."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **fleet: int) -> None:
        self.fleet: Fleet = build_fleet(seed=11, **fleet)
        self.lab = RouterLab(self.fleet).start()
        self.tmp_path = tmp_path
        self.monkeypatch = monkeypatch

    def inventory(self, timeout: float = 3.0) -> Path:
        path = self.tmp_path / "inventory.toml"
        write_inventory(path, self.lab.endpoints(), username=self.lab.username, timeout=timeout)
        for name, value in self.lab.environment().items():
            self.monkeypatch.setenv(name, value)
        return path

    def targets(self, timeout: float = 3.0) -> list[RouterTarget]:
        return load_inventory(self.inventory(timeout)).routers


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LabWorld]:
    monkeypatch.setenv("EMERALD_HOME", str(tmp_path / "home"))
    created = LabWorld(tmp_path, monkeypatch, routers=3, secrets=40)
    yield created
    created.lab.stop()


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    created = open_store(database_url)
    yield created
    created.dispose()


def statuses(report: RunReport) -> dict[str, str]:
    return {target.name: target.status for target in report.targets}


def stored(engine: sa.Engine, table: str, router: str) -> dict[tuple[str, ...], dict[str, Any]]:
    """One router's rows of `table`, keyed by name (and session), bookkeeping columns dropped."""
    rows_of = schema.metadata.tables[table]
    query = (
        sa.select(rows_of)
        .join(schema.routers, schema.routers.c.id == rows_of.c.router_id)
        .where(schema.routers.c.name == router)
    )
    with engine.connect() as conn:
        rows = [dict(row) for row in conn.execute(query).mappings()]
    drop = {"id", "router_id", "first_seen_at", "last_seen_at"}
    return {
        (row["name"], row.get("session_id") or ""): {k: v for k, v in row.items() if k not in drop}
        for row in rows
    }
