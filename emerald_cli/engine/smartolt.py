"""`sync smartolt`: OLTs, ONUs, their statuses and optical signals, within SmartOLT's limits.

One run makes one paged pass over the ONUs plus one bulk statuses call and one bulk signals
call: SmartOLT allows about 1,000 calls an hour and a handful of full exports, so nothing here
calls per ONU. Each signal reading is also appended to a history table, since operators look
at how a customer's signal drifts over weeks.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from emerald_cli.accounts import SmartOLTAccount
from emerald_cli.engine.read_ahead import ReadAhead
from emerald_cli.engine.run import Progress, SyncRun
from emerald_cli.engine.streams import (
    Stream,
    StreamData,
    TableSnapshot,
    columns_of,
    run_streams,
)
from emerald_cli.sources.smartolt import SmartOLTClient, records
from emerald_cli.sources.streams import Skipped
from emerald_cli.store import schema
from emerald_cli.store.history import append_rows

logger = logging.getLogger(__name__)

SOURCE = "smartolt"
POSITION = ("olt_id", "board", "port", "onu")


def sync_smartolt(
    engine: sa.Engine,
    account: SmartOLTAccount,
    *,
    trigger: str = "cli",
    dry_run: bool = False,
    progress: Progress | None = None,
) -> SyncRun:
    """Read every SmartOLT stream and store it; one target per stream in the run history."""
    client = SmartOLTClient(
        account.url,
        account.token,
        page_size=account.page_size,
        full_export=account.full_export,
        read_timeout=account.timeout,
        total_timeout=account.timeout,
        retries=account.retries,
    )
    with client, SyncRun(engine, SOURCE, trigger, dry_run=dry_run) as run:
        streams = [
            Stream("olts", client.olts, _olts),
            Stream(
                "onus",
                lambda: ReadAhead(client.onu_pages()),
                lambda rows: _onus(rows, account.zone),
            ),
            Stream("onu_statuses", client.statuses, lambda rows: _statuses(rows, account.zone)),
            Stream("onu_signals", client.signals, lambda rows: _signals(rows, run.report.run_id)),
        ]
        run_streams(run, engine, streams, lambda: client.requests_made, progress)
    return run


def _olts(rows: list[dict[str, Any]]) -> StreamData:
    parsed = records.olts(rows)
    rows_out = [columns_of(olt, {"id": "olt_id"}) for olt in parsed.records]
    return StreamData([TableSnapshot("olts", ("olt_id",), rows_out)], parsed.skipped)


def _onus(rows: Iterable[dict[str, Any]], zone: str) -> StreamData:
    parsed = records.onus(rows, zone=zone)
    skipped = list(parsed.skipped)
    rows_out = []
    for onu in parsed.records:
        row = columns_of(onu)
        if any(row[name] is None for name in POSITION):
            skipped.append(Skipped("onus", f"ONU {onu.sn or '?'} has no PON position", onu.raw))
            continue
        row["service_ports"] = [columns_of(port) for port in onu.service_ports]
        rows_out.append(row)
    return StreamData([TableSnapshot("onus", POSITION, rows_out)], skipped)


def _statuses(rows: list[dict[str, Any]], zone: str) -> StreamData:
    parsed = records.statuses(rows, zone=zone)
    rows_out, skipped = _by_external_id("onu_statuses", parsed.records, parsed.skipped)
    return StreamData([TableSnapshot("onu_statuses", ("unique_external_id",), rows_out)], skipped)


def _signals(rows: list[dict[str, Any]], run_id: int | None) -> StreamData:
    parsed = records.signals(rows)
    rows_out, skipped = _by_external_id("onu_signals", parsed.records, parsed.skipped)

    def append_readings(conn: sa.Connection, now: datetime) -> dict[str, Any]:
        # One reading per ONU, the same one onu_signals keeps when an id repeats.
        latest = {row["unique_external_id"]: row for row in rows_out}
        readings = [
            {
                "unique_external_id": row["unique_external_id"],
                "read_at": now,
                "signal": row["signal"],
                "signal_1310": row["signal_1310"],
                "signal_1490": row["signal_1490"],
                "run_id": run_id,
            }
            for row in latest.values()
        ]
        return {
            "onu_signal_readings": {
                "appended": append_rows(conn, schema.onu_signal_readings, readings)
            }
        }

    return StreamData(
        [TableSnapshot("onu_signals", ("unique_external_id",), rows_out)],
        skipped,
        extra_write=append_readings,
    )


def _by_external_id(
    stream: str, parsed: list[Any], skipped: list[Skipped]
) -> tuple[list[dict[str, Any]], list[Skipped]]:
    """Rows keyed by unique_external_id; records without one cannot be told apart, so skip."""
    skipped = list(skipped)
    rows_out = []
    for record in parsed:
        if not record.unique_external_id:
            skipped.append(Skipped(stream, "row without unique_external_id", record.raw))
            continue
        rows_out.append(columns_of(record))
    return rows_out, skipped
