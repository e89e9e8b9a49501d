"""`sync ispcube`: plans, nodes, customers and connections, each stream all-or-nothing.

Nodes are the ISP's routers: after this sync the `routers` table holds one router per node
with an IP, which `sync mikrotik` polls when it is given no inventory.
"""

from __future__ import annotations

import functools
import logging
from collections import Counter
from collections.abc import Collection, Iterable
from datetime import datetime, tzinfo
from typing import Any

import sqlalchemy as sa

from emerald_cli.accounts import ISPCubeAccount
from emerald_cli.engine.read_ahead import ReadAhead
from emerald_cli.engine.record_hash import RecordHash
from emerald_cli.engine.run import Progress, SyncRun
from emerald_cli.engine.streams import (
    Stream,
    StreamData,
    TableSnapshot,
    columns_of,
    run_streams,
)
from emerald_cli.sources import values
from emerald_cli.sources.ispcube import ISPCubeClient, records
from emerald_cli.sources.ispcube.records import RouterCandidate
from emerald_cli.sources.streams import Raw, Skipped
from emerald_cli.store import schema
from emerald_cli.store.snapshot import DeferredRow, upsert_router

logger = logging.getLogger(__name__)

SOURCE = "ispcube"
STREAMS = ("plans", "nodes", "customers", "connections")


def sync_ispcube(
    engine: sa.Engine,
    account: ISPCubeAccount,
    *,
    trigger: str = "cli",
    dry_run: bool = False,
    progress: Progress | None = None,
    only: Collection[str] = (),
) -> SyncRun:
    """Read every ISPCube stream (or those in `only`) and store it; one target per stream in
    the run history."""
    client = ISPCubeClient(
        account.url,
        account.api_key,
        account.client_id,
        account.username,
        account.password,
        page_size=account.page_size,
        max_rows=account.max_customers,
        read_timeout=account.timeout,
        total_timeout=account.timeout,
        retries=account.retries,
    )
    pages = (progress or Progress()).listing("customers")
    streams = [
        Stream("plans", client.plans, _plans),
        Stream("nodes", client.nodes, _nodes),
        Stream(
            "customers",
            lambda: ReadAhead(client.customer_pages(pages)),
            lambda rows: _customers(rows, account.zone),
        ),
        Stream("connections", client.connections, _connections),
    ]
    chosen = [stream for stream in streams if not only or stream.name in only]
    with client, SyncRun(engine, SOURCE, trigger, dry_run=dry_run) as run:
        run_streams(run, engine, chosen, client.calls_made, progress)
    return run


def _plans(rows: list[dict[str, Any]]) -> StreamData:
    plans = records.plans(rows)
    rows_out = [columns_of(plan, {"id": "plan_id"}) for plan in plans.records]
    return StreamData([TableSnapshot("plans", ("plan_id",), rows_out)], plans.skipped)


def _customers(rows: Iterable[Raw], zone: str) -> StreamData:
    """Customers are typed only where their record changed; their emails and phones, which
    need no typing, are listed in full."""
    local, record_hash = values.zone_of(zone), RecordHash("customers", zone)
    customers, emails, phones, skipped = [], [], [], []

    for customer_id, raw in records.identified(rows, "customers", skipped):
        customers.append(
            DeferredRow(
                (customer_id,),
                record_hash(raw),
                functools.partial(_customer_row, customer_id, raw, local),
            )
        )
        emails.extend(columns_of(email) for email in records.emails(customer_id, raw))
        phones.extend(columns_of(phone) for phone in records.phones(customer_id, raw))

    return StreamData(
        [
            TableSnapshot("customers", ("customer_id",), customers),
            TableSnapshot("customer_emails", ("customer_id", "email"), emails),
            TableSnapshot("customer_phones", ("customer_id", "number"), phones),
        ],
        skipped,
    )


def _customer_row(customer_id: int, raw: Raw, zone: tzinfo) -> dict[str, Any]:
    return columns_of(records.customer(customer_id, raw, zone), {"id": "customer_id"})


def _connections(rows: list[Raw]) -> StreamData:
    """Connections are typed only where their record changed."""
    record_hash = RecordHash("connections")
    skipped: list[Skipped] = []
    rows_out = [
        DeferredRow(
            (connection_id,),
            record_hash(raw),
            functools.partial(_connection_row, connection_id, raw),
        )
        for connection_id, raw in records.identified(rows, "connections", skipped)
    ]
    return StreamData([TableSnapshot("connections", ("connection_id",), rows_out)], skipped)


def _connection_row(connection_id: int, raw: Raw) -> dict[str, Any]:
    renamed = {"id": "connection_id", "user": "pppoe_user"}
    return columns_of(records.connection(connection_id, raw), renamed)


def _nodes(rows: list[dict[str, Any]]) -> StreamData:
    parsed = records.router_candidates(rows)
    rows_out = [
        {
            "node_id": node.node_id,
            "name": node.name,
            "ip": node.host,
            "port": node.port,
            "port_defaulted": node.port_defaulted,
            "raw": node.raw,
        }
        for node in parsed.records
    ]
    return StreamData(
        [TableSnapshot("nodes", ("node_id",), rows_out)],
        parsed.skipped,
        extra_write=lambda conn, now: _routers_from_nodes(conn, parsed.records, now),
    )


def _routers_from_nodes(
    conn: sa.Connection, nodes: list[RouterCandidate], now: datetime
) -> dict[str, Any]:
    """One router per node, named after the node; nodes gone from ISPCube lose their router."""
    names = _router_names(nodes)
    for node in nodes:
        upsert_router(
            conn,
            name=names[node.node_id],
            host=node.host,
            port=node.port,
            source=SOURCE,
            node_id=node.node_id,
            now=now,
        )

    routers = schema.routers
    gone = conn.execute(
        routers.update()
        .where(
            routers.c.source == SOURCE,
            routers.c.removed_at.is_(None),
            routers.c.node_id.not_in([node.node_id for node in nodes]),
        )
        .values(removed_at=now)
    )
    return {"routers": {"from_nodes": len(nodes), "removed": gone.rowcount}}


def _router_names(nodes: list[RouterCandidate]) -> dict[int, str]:
    """Node comments name the routers; a missing or repeated comment gets the node id added."""
    counted = Counter(node.name for node in nodes)
    return {
        node.node_id: node.name
        if node.name and counted[node.name] == 1
        else f"{node.name or 'node'}-{node.node_id}"
        for node in nodes
    }
