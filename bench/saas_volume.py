"""Benchmark, run by hand: ISPCube and SmartOLT at volume into PostgreSQL, against a plain COPY.

20,000 customers, 50,000 connections and 10,000 ONUs come from the lab servers over HTTP.
A cold sync (empty tables) and a warm one (1% of the rows changed) are timed end to end:
reading, normalising and writing. The yardstick is a plain COPY of the same typed rows into
empty tables of the same shape on the same database. Target: warm within 3x of that COPY.

The lab servers run in a process of their own (they build the same seeded world there), so
the time measured is the sync's, not the fake services'.

Flags: --database-url (an empty database; default: a fresh schema in the local `test` one),
--rounds (warm runs and COPYs timed; the medians are printed).
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from emerald_cli.accounts import ISPCubeAccount, SmartOLTAccount
from emerald_cli.engine import ispcube as ispcube_engine
from emerald_cli.engine import smartolt as smartolt_engine
from emerald_cli.engine.database import open_store
from emerald_cli.lab.billing import Billing, build_billing
from emerald_cli.lab.dataset import build_fleet
from emerald_cli.lab.ispcube import ISPCubeLab
from emerald_cli.lab.smartolt import SmartOLTLab
from emerald_cli.store import schema
from emerald_cli.store.snapshot import DeferredRow, canonical_json

CREDENTIALS = ("bench-key", "77", "api", "bench-pass")
TOKEN = "bench-token"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TARGET = 3.0  # a warm sync within this many times a plain COPY of the same rows


def main() -> None:
    options = _arguments()
    url, cleanup = _database(options.database_url)
    engine = open_store(url)
    with engine.connect() as conn:
        if conn.execute(sa.select(sa.func.count()).select_from(schema.customers)).scalar_one():
            raise SystemExit(f"{url} already holds customers: the cold run needs empty tables")
    labs, urls = _start_labs()
    billing = _world()
    _change_one_percent(billing)

    # Warm runs and COPYs take turns, so that a busy moment of the machine weighs on both.
    try:
        accounts = (
            ISPCubeAccount(urls[0], *CREDENTIALS, page_size=1000),
            # The lab here has no limits, and a real SmartOLT's pace (10 calls a second) is
            # not emerald's cost: the ONU pages are fetched as fast as they come.
            SmartOLTAccount(urls[1], TOKEN, calls_per_second=10**6, calls_per_hour=10**6),
        )
        cold, rows = _sync(engine, *accounts)
        warms, copies = [], []
        for _ in range(options.rounds):
            labs.send("change")
            labs.recv()
            warms.append(_sync(engine, *accounts)[0])
            copies.append(_plain_copy(engine, billing))
    finally:
        labs.send("stop")

    copy = statistics.median(copies)
    warm = statistics.median(warms)

    print(f"rows written per run: {rows}; warm runs and COPYs: median of {options.rounds}")
    print(f"  cold sync : {cold:6.2f} s  {rows / cold:9,.0f} rows/s")
    print(f"  warm sync : {warm:6.2f} s  {rows / warm:9,.0f} rows/s  (1% changed)")
    print(f"  plain COPY: {copy:6.2f} s  {rows / copy:9,.0f} rows/s  (same rows, empty tables)")
    verdict = "met" if warm / copy <= TARGET else "NOT met"
    print(f"  warm / COPY = {warm / copy:.2f}x (target <= {TARGET:g}x: {verdict})")
    print(f"  cold / COPY = {cold / copy:.2f}x")
    engine.dispose()
    cleanup()


def _start_labs() -> tuple[Any, tuple[str, str]]:
    """Start both lab servers in a spawned process; the pipe answers "change" and "stop"."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    context.Process(target=_serve_labs, args=(theirs,), daemon=True).start()
    return ours, ours.recv()


def _serve_labs(pipe: Any) -> None:
    billing = _world()

    with (
        ISPCubeLab(billing, *CREDENTIALS, unpaged_delay=0) as ispcube,
        SmartOLTLab(billing, TOKEN, hourly_budget=10**6, burst_per_s=10**6) as smartolt,
    ):
        pipe.send((ispcube.url, smartolt.url))
        while (command := pipe.recv()) != "stop":
            if command == "change":
                _change_one_percent(billing)
                pipe.send("changed")


def _world() -> Billing:
    fleet = build_fleet(seed=5, routers=10, secrets=100)
    billing = build_billing(fleet, customers=20_000, extra_connections=50_000 - 1_000)
    billing.onus = billing.onus[:10_000]
    return billing


def _sync(
    engine: sa.Engine, ispcube: ISPCubeAccount, smartolt: SmartOLTAccount
) -> tuple[float, int]:
    started = time.perf_counter()
    runs = (
        ispcube_engine.sync_ispcube(engine, ispcube).report,
        smartolt_engine.sync_smartolt(engine, smartolt).report,
    )
    elapsed = time.perf_counter() - started

    for report in runs:
        if report.status != "ok":
            raise SystemExit(f"the {report.source} sync did not succeed: {report.as_json()}")
    counts = [report.counts.as_dict() for report in runs]
    return elapsed, sum(sum(count.values()) for count in counts)


def _change_one_percent(billing: Billing) -> None:
    """Change one record in a hundred of each listing; every call changes the same ones again,
    so each warm round has as much to write as the first."""
    for customer in billing.customers[::100]:
        customer["name"] = f"{customer['name']} (cambio)"
    for connection in billing.connections[::100]:
        moved = connection["address"] == "Calle Nueva 1"
        connection["address"] = "Calle Nueva 2" if moved else "Calle Nueva 1"
    for onu in billing.onus[::100]:
        onu["status"] = "Offline" if onu["status"] != "Offline" else "Online"


def _plain_copy(engine: sa.Engine, billing: Billing) -> float:
    """COPY the same typed rows into empty copies of the tables: the floor for any writer.

    The rows are shaped by the engine's own stream functions, so both sides write the same.
    As for any writer, values become wire text inside the timed part: psycopg adapts dates and
    decimals, and the raw records are encoded as the sync encodes them.
    """
    zone, places = "America/Argentina/Buenos_Aires", smartolt_engine.Places()
    data = [
        ispcube_engine._customers(billing.customers, zone),
        ispcube_engine._connections(billing.connections),
        smartolt_engine._onus(billing.onus, zone, places),
        smartolt_engine._statuses(billing.statuses(), zone, places),
        smartolt_engine._signals(billing.signals(), None, places),
    ]
    # Rows a sync types only when their record changed are all typed here, before the clock.
    tables = [
        (snapshot.table, [_built(row) for row in snapshot.rows])
        for stream in data
        for snapshot in stream.snapshots
    ]

    raw = engine.raw_connection()
    with raw.cursor() as cursor:
        for table, _rows in tables:
            like = f"LIKE {table} INCLUDING DEFAULTS"
            cursor.execute(f"DROP TABLE IF EXISTS copy_{table}")
            cursor.execute(f"CREATE TEMP TABLE copy_{table} ({like})")
    raw.commit()

    now = datetime.now(UTC)
    started = time.perf_counter()
    with raw.cursor() as cursor:
        for table, rows in tables:
            columns = [*rows[0], "first_seen_at", "last_seen_at"] if rows else []
            names = ", ".join(f'"{name}"' for name in columns)
            with cursor.copy(f"COPY copy_{table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row([*map(_plain, row.values()), now, now])
    raw.commit()
    elapsed = time.perf_counter() - started
    raw.close()
    return elapsed


def _built(row: dict[str, Any] | DeferredRow) -> dict[str, Any]:
    return row.build() if isinstance(row, DeferredRow) else row


def _plain(value: Any) -> Any:
    return canonical_json(value) if isinstance(value, dict | list) else value


def _database(url: str | None) -> tuple[str, Any]:
    if url:
        return url, lambda: None
    name = f"bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(DEFAULT_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()

    return f"{DEFAULT_URL}?options=-csearch_path%3D{name}", drop


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--rounds", type=int, default=3, help="warm runs and COPYs timed")
    return parser.parse_args()


if __name__ == "__main__":
    main()
