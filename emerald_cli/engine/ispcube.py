"""`sync ispcube`: plans, nodes, customers and connections, each stream all-or-nothing.

Nodes are the ISP's routers: after this sync the `routers` table holds one router per node
with an IP, which `sync mikrotik` polls when it is given no inventory.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from emerald_cli.accounts import ISPCubeAccount
from emerald_cli.engine.read_ahead import ReadAhead
from emerald_cli.engine.run import Progress, SyncRun
from emerald_cli.engine.streams import (
    Stream,
    StreamData,
    TableSnapshot,
    columns_of,
    run_streams,
)
from emerald_cli.sources.ispcube import ISPCubeClient, records
from emerald_cli.sources.ispcube.records import RouterCandidate
from emerald_cli.store import schema
from emerald_cli.store.snapshot import upsert_router

logger = logging.getLogger(__name__)

SOURCE = "ispcube"


def sync_ispcube(
    engine: sa.Engine,
    account: ISPCubeAccount,
    *,
    trigger: str = "cli",
    dry_run: bool = False,
    progress: Progress | None = None,
) -> SyncRun:
    """Read every ISPCube stream and store it; one target per stream in the run history."""
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
    streams = [
        Stream("plans", client.plans, _plans),
        Stream("nodes", client.nodes, _nodes),
        Stream(
            "customers",
            lambda: ReadAhead(client.customer_pages()),
            lambda rows: _customers(rows, account.zone),
        ),
        Stream("connections", client.connections, _connections),
    ]
    with client, SyncRun(engine, SOURCE, trigger, dry_run=dry_run) as run:
        run_streams(run, engine, streams, client.calls_made, progress)
    return run


def _plans(rows: list[dict[str, Any]]) -> StreamData:
    plans = records.plans(rows)
    rows_out = [columns_of(plan, {"id": "plan_id"}) for plan in plans.records]
    return StreamData([TableSnapshot("plans", ("plan_id",), rows_out)], plans.skipped)


def _customers(rows: Iterable[dict[str, Any]], zone: str) -> StreamData:
    parsed = records.customers(rows, zone=zone)
    return StreamData(
        [
            TableSnapshot(
                "customers",
                ("customer_id",),
                [columns_of(customer, {"id": "customer_id"}) for customer in parsed.customers],
            ),
            TableSnapshot(
                "customer_emails",
                ("customer_id", "email"),
                [columns_of(email) for email in parsed.emails],
            ),
            TableSnapshot(
                "customer_phones",
                ("customer_id", "number"),
                [columns_of(phone) for phone in parsed.phones],
            ),
        ],
        parsed.skipped,
    )


def _connections(rows: list[dict[str, Any]]) -> StreamData:
    parsed = records.connections(rows)
    renamed = {"id": "connection_id", "user": "pppoe_user"}
    rows_out = [columns_of(connection, renamed) for connection in parsed.records]
    return StreamData([TableSnapshot("connections", ("connection_id",), rows_out)], parsed.skipped)


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
