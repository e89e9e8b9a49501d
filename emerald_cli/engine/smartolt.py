"""`sync smartolt`: OLTs, ONUs, their statuses and optical signals, within SmartOLT's limits.

One run makes one paged pass over the ONUs plus one bulk statuses call and one bulk signals
call: SmartOLT allows about 1,000 calls an hour and a handful of full exports, so nothing here
calls per ONU, and a run that would overspend the hour leaves the ONU listing out (see
smartolt_budget); a run that leaves it out, or is asked only for statuses and signals, places
them on the ONUs stored before. Each signal reading is also appended to a history table, since
operators look at how a customer's signal drifts over weeks.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Collection, Iterable
from datetime import datetime, tzinfo
from typing import Any

import sqlalchemy as sa

from emerald_cli.accounts import SmartOLTAccount
from emerald_cli.engine.read_ahead import ReadAhead
from emerald_cli.engine.record_hash import RecordHash
from emerald_cli.engine.run import Progress, SyncRun
from emerald_cli.engine.smartolt_budget import HOUR, CallPlan, plan_calls, spent_from
from emerald_cli.engine.streams import (
    Stream,
    StreamData,
    TableSnapshot,
    columns_of,
    run_streams,
)
from emerald_cli.sources import values
from emerald_cli.sources.errors import RateLimited
from emerald_cli.sources.smartolt import SmartOLTClient, records
from emerald_cli.sources.smartolt.client import listing_calls
from emerald_cli.sources.streams import Raw, Skipped
from emerald_cli.store import schema
from emerald_cli.store.history import append_rows
from emerald_cli.store.runs import targets_since
from emerald_cli.store.snapshot import DeferredRow

logger = logging.getLogger(__name__)

SOURCE = "smartolt"
STREAMS = ("olts", "onus", "onu_statuses", "onu_signals")
POSITION = ("olt_id", "board", "port", "onu")


def sync_smartolt(
    engine: sa.Engine,
    account: SmartOLTAccount,
    *,
    trigger: str = "cli",
    dry_run: bool = False,
    progress: Progress | None = None,
    only: Collection[str] = (),
) -> SyncRun:
    """Read every SmartOLT stream (or those in `only`) the hour's call budget allows and store
    it; one target per stream in the run history, a stream left out recorded rate limited with
    the reason."""
    chosen = [name for name in STREAMS if not only or name in only]
    with SyncRun(engine, SOURCE, trigger, dry_run=dry_run) as run:
        plan = _plan(engine, account, chosen)
        client = SmartOLTClient(
            account.url,
            account.token,
            page_size=account.page_size,
            full_export=account.full_export,
            calls_per_second=account.calls_per_second,
            read_timeout=account.timeout,
            total_timeout=account.timeout,
            retries=account.retries,
            allowance=plan.allowance,
        )

        pages = (progress or Progress()).listing("onus")
        places = Places()
        if "onus" in plan.skipped or "onus" not in chosen:
            places.learn(_stored_places(engine))
        streams = [
            Stream("olts", client.olts, _olts),
            Stream(
                "onus",
                lambda: ReadAhead(client.onu_pages(pages)),
                lambda rows: _onus(rows, account.zone, places),
                detail={"full_export": account.full_export},
            ),
            Stream(
                "onu_statuses",
                client.statuses,
                lambda rows: _statuses(rows, account.zone, places),
            ),
            Stream(
                "onu_signals",
                client.signals,
                lambda rows: _signals(rows, run.report.run_id, places),
            ),
        ]
        with client:
            planned = [_planned(stream, plan) for stream in streams if stream.name in chosen]
            run_streams(run, engine, planned, client.calls_made, progress)
    return run


def _plan(engine: sa.Engine, account: SmartOLTAccount, chosen: list[str]) -> CallPlan:
    """What this run may call of the chosen streams, given what the runs of the last hour
    spent."""
    # An ONU listing as long as the stored one; every other stream is one call.
    listing = 0
    if "onus" in chosen:
        listing = listing_calls(_stored_onus(engine), account.page_size, account.full_export)
    plan = plan_calls(
        spent_from(*targets_since(engine, SOURCE, HOUR)),
        calls_per_hour=account.calls_per_hour,
        full_exports_per_hour=account.full_exports_per_hour,
        costs={name: listing if name == "onus" else 1 for name in chosen},
        full_export=account.full_export,
    )
    if plan.skipped:
        logger.info("streams=%s not called: %s", ",".join(plan.skipped), plan.reason)
    return plan


def _planned(stream: Stream, plan: CallPlan) -> Stream:
    """The stream, or in its place one that reports it was left out of this run, and why."""
    if stream.name not in plan.skipped:
        return stream

    when = f"after {plan.retry_after:%Y-%m-%d %H:%M:%S} UTC" if plan.retry_after else "later"
    left_out = RateLimited(
        stream.name,
        plan.retry_after,
        message=f"not called: {plan.reason}; try again {when}",
        stops_source=False,
    )

    def read() -> None:
        raise left_out

    return Stream(stream.name, read, stream.shape, detail=stream.detail)


def _stored_onus(engine: sa.Engine) -> int:
    onus = schema.onus
    with engine.connect() as conn:
        query = sa.select(sa.func.count()).select_from(onus).where(onus.c.removed_at.is_(None))
        return int(conn.execute(query).scalar_one())


def _stored_places(engine: sa.Engine) -> list[dict[str, Any]]:
    """The stored ONUs' ids and positions, to place status and signal rows when this run does
    not list the ONUs."""
    onus = schema.onus
    columns = [onus.c[name] for name in ("unique_external_id", "sn", *POSITION)]
    with engine.connect() as conn:
        rows = conn.execute(sa.select(*columns).where(onus.c.removed_at.is_(None)))
        return [dict(row) for row in rows.mappings()]


class Places:
    """Where each external id was seen on the PON this run: its ONUs' positions and SNs.

    Status and signal rows are stored by the position of their ONU, since SmartOLT's external
    id can name more than one. Signal rows need not carry a position (SmartOLT documents only
    the id and the levels); such a row is placed at the one ONU of this run's ONU listing (or,
    when the run lists no ONUs, of the stored ones; failing both, of its status listing) that
    has its id and agrees with whatever else the row says: SN, OLT, board, port, ONU number.
    The streams are read one after another, so each is shaped after the ones before it.
    """

    def __init__(self) -> None:
        self._by_id: dict[str, list[dict[str, Any]]] = {}
        self._learned = False

    def learn(self, rows: Iterable[dict[str, Any]]) -> None:
        """Remember where the rows' ids are, unless an earlier stream (the ONUs) already told."""
        if self._learned:
            return

        self._learned = True
        for row in rows:
            if row["unique_external_id"]:
                known = {name: row[name] for name in (*POSITION, "sn")}
                self._by_id.setdefault(row["unique_external_id"], []).append(known)

    def place(self, stream: str, row: dict[str, Any]) -> str | None:
        """Fill a row's missing position in place; or say why it cannot be told apart."""
        if all(row[name] is not None for name in POSITION):
            return None

        external_id = row["unique_external_id"]
        if not external_id:
            return f"{stream} row without a PON position or unique_external_id"
        said = {name: row[name] for name in (*POSITION, "sn") if row.get(name) is not None}
        candidates = [
            known
            for known in self._by_id.get(external_id, ())
            if all(known[name] == value for name, value in said.items())
        ]
        if len(candidates) == 1:
            row.update({name: candidates[0][name] for name in POSITION})
            return None
        if candidates:
            return (
                f"{stream} row for {external_id} has no PON position and {len(candidates)}"
                " ONUs carry that unique_external_id"
            )
        return f"{stream} row for {external_id} has no PON position and matches no listed ONU"


def _olts(rows: list[dict[str, Any]]) -> StreamData:
    parsed = records.olts(rows)
    rows_out = [columns_of(olt, {"id": "olt_id"}) for olt in parsed.records]
    return StreamData([TableSnapshot("olts", ("olt_id",), rows_out)], parsed.skipped)


def _onus(rows: Iterable[Raw], zone: str, places: Places) -> StreamData:
    """ONUs are typed only where their record changed; each is known by its PON position."""
    local, record_hash = values.zone_of(zone), RecordHash("onus", zone)
    skipped: list[Skipped] = []
    placed: list[dict[str, Any]] = []
    rows_out: list[DeferredRow] = []

    for raw in records.identified_onus(rows, skipped):
        place = records.onu_place(raw)
        position = tuple(place[name] for name in POSITION)
        if None in position:
            skipped.append(Skipped("onus", f"ONU {place['sn'] or '?'} has no PON position", raw))
            continue
        placed.append(place)
        rows_out.append(
            DeferredRow(position, record_hash(raw), functools.partial(_onu_row, raw, local))
        )

    places.learn(placed)
    return StreamData([TableSnapshot("onus", POSITION, rows_out)], skipped)


def _onu_row(raw: Raw, zone: tzinfo) -> dict[str, Any]:
    onu = records.onu(raw, zone)
    row = columns_of(onu)
    row["service_ports"] = [columns_of(port) for port in onu.service_ports]
    return row


def _statuses(rows: list[dict[str, Any]], zone: str, places: Places) -> StreamData:
    parsed = records.statuses(rows, zone=zone)
    rows_out, skipped = _placed("onu_statuses", parsed.records, parsed.skipped, places)
    places.learn(rows_out)
    return StreamData([TableSnapshot("onu_statuses", POSITION, rows_out)], skipped)


def _signals(rows: list[dict[str, Any]], run_id: int | None, places: Places) -> StreamData:
    parsed = records.signals(rows)
    rows_out, skipped = _placed("onu_signals", parsed.records, parsed.skipped, places)

    def append_readings(conn: sa.Connection, now: datetime) -> dict[str, Any]:
        # One reading per ONU, the same one onu_signals keeps when a position repeats.
        latest = {tuple(row[name] for name in POSITION): row for row in rows_out}
        readings = [
            {
                **{name: row[name] for name in POSITION},
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
        [TableSnapshot("onu_signals", POSITION, rows_out)],
        skipped,
        extra_write=append_readings,
    )


def _placed(
    stream: str, parsed: list[Any], skipped: list[Skipped], places: Places
) -> tuple[list[dict[str, Any]], list[Skipped]]:
    """Rows with their ONU's position; a row that cannot be placed is skipped, saying why."""
    skipped = list(skipped)
    rows_out = []
    for record in parsed:
        row = columns_of(record)
        reason = places.place(stream, row)
        if reason is not None:
            skipped.append(Skipped(stream, reason, record.raw))
            continue
        rows_out.append(row)
    return rows_out, skipped
