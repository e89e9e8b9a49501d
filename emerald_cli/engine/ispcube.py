"""`sync ispcube`: plans, nodes, customers and connections, each stream all-or-nothing.

Nodes are the ISP's routers: after this sync the `routers` table holds one router per node
with an IP and a port, which `sync mikrotik` polls when it is given no inventory.
"""

from __future__ import annotations

import functools
import logging
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Sequence
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
from emerald_cli.store.routers import adopt_router, retire_routers, upsert_node_router
from emerald_cli.store.snapshot import DeferredRow

logger = logging.getLogger(__name__)

SOURCE = "ispcube"
STREAMS = ("plans", "nodes", "customers", "connections")


def sync_ispcube(
    engine: sa.Engine,
    account: ISPCubeAccount,
    *,
    default_port: int | None = None,
    trigger: str = "cli",
    dry_run: bool = False,
    progress: Progress | None = None,
    only: Collection[str] = (),
) -> SyncRun:
    """Read every ISPCube stream (or those in `only`) and store it; one target per stream in
    the run history.

    `default_port` is the router port of a node that gives none ([defaults] port of the
    config file); without it such a node gets no router and is reported.
    """
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
        Stream("nodes", client.nodes, lambda rows: _nodes(rows, default_port)),
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


def _nodes(rows: list[dict[str, Any]], default_port: int | None) -> StreamData:
    """Every node into `nodes`; the ones a router can be polled from into `routers` too."""
    parsed = records.router_candidates(rows, default_port)
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
    pollable = [node for node in parsed.records if node.pollable]
    return StreamData(
        [TableSnapshot("nodes", ("node_id",), rows_out)],
        parsed.skipped,
        extra_write=lambda conn, now: _routers_from_nodes(conn, pollable, now),
    )


def _routers_from_nodes(
    conn: sa.Connection, nodes: list[RouterCandidate], now: datetime
) -> dict[str, Any]:
    """One router per node, known by the node's id and named after the node; nodes gone from
    ISPCube lose their router.

    A node with no router yet adopts the inventory's router at its host and port (see
    _adopt): the same device is one router, with one history. A renamed node renames its
    router row, which keeps its id and so its secrets, sessions and their history. A router
    whose node is gone (or can no longer be polled) is removed with everything read from it.
    A name another router already has (an inventory router at another address, or the router
    of a node ISPCube no longer lists, removed but kept as history) is not taken from it: the
    node's router gets the node id added to its name, and a warning says so.
    """
    routers = schema.routers
    listed = {node.node_id: node for node in nodes}  # a node listed twice: the last is kept
    stored = conn.execute(
        sa.select(
            routers.c.id,
            routers.c.name,
            routers.c.host,
            routers.c.port,
            routers.c.source,
            routers.c.node_id,
            routers.c.removed_at,
        ).order_by(routers.c.id)
    ).all()
    adopted = _adopt(conn, list(listed.values()), stored)

    current = {row.node_id: row.name for row in stored if row.node_id in listed} | adopted
    elsewhere = {
        row.name: row.id
        for row in stored
        if row.node_id not in listed and row.name not in adopted.values()
    }
    names = _router_names(list(listed.values()), set(elsewhere))
    for node in listed.values():
        if node.name in elsewhere:
            logger.warning(
                "node=%d name %r is router id=%d's already: its router is named %r",
                node.node_id,
                node.name,
                elsewhere[node.name],
                names[node.node_id],
            )

    renamed = [node_id for node_id, name in current.items() if names[node_id] != name]
    _park(conn, renamed)
    for node in listed.values():
        upsert_node_router(
            conn,
            source=SOURCE,
            node_id=node.node_id,
            name=names[node.node_id],
            host=node.host,
            port=node.port,
            now=now,
        )

    gone = conn.scalars(
        sa.select(routers.c.id).where(
            routers.c.source == SOURCE,
            routers.c.removed_at.is_(None),
            sa.or_(routers.c.node_id.is_(None), routers.c.node_id.not_in(list(listed))),
        )
    ).all()
    retire_routers(conn, list(gone), now)
    counts = {"from_nodes": len(listed), "adopted": len(adopted), "renamed": len(renamed)}
    return {"routers": {**counts, "removed": len(gone)}}


def _adopt(
    conn: sa.Connection, nodes: list[RouterCandidate], stored: Sequence[sa.Row[Any]]
) -> dict[int, str]:
    """Make each node that has no router yet the owner of the live inventory router at its
    host and port, if there is one; returns the adopted routers' names by node id.

    That router is the node's device, polled from the inventory file before ISPCube listed
    it: a second router for it would store every secret twice. Among several at one address,
    the one with the node's name is adopted first, then the oldest; a node with a router of
    its own keeps it.
    """
    owned = {row.node_id for row in stored}
    free: dict[tuple[str, int], list[sa.Row[Any]]] = defaultdict(list)
    for row in stored:
        if row.source == "inventory" and row.node_id is None and row.removed_at is None:
            free[(row.host, row.port)].append(row)

    adopted: dict[int, str] = {}
    waiting = sorted(
        (node for node in nodes if node.node_id not in owned), key=lambda node: node.node_id
    )
    for by_name in (True, False):
        for node in waiting:
            candidates = free[(node.host, node.port)]
            row = next((r for r in candidates if not by_name or r.name == node.name), None)
            if row is None or node.node_id in adopted:
                continue
            candidates.remove(row)
            adopt_router(conn, row.id, source=SOURCE, node_id=node.node_id)
            adopted[node.node_id] = row.name
            logger.info(
                "node=%d router=%s id=%d at %s:%d adopted from the inventory, with its history",
                node.node_id,
                row.name,
                row.id,
                row.host,
                row.port,
            )
    return adopted


def _park(conn: sa.Connection, node_ids: list[int]) -> None:
    """Give the routers of these nodes names no router has, until they get their new ones:
    two nodes that swapped names must not meet on the unique name half way."""
    routers = schema.routers
    for node_id in node_ids:
        conn.execute(
            routers.update()
            .where(routers.c.node_id == node_id)
            .values(name=f"\x1bnode {node_id} being renamed")
        )


def _router_names(nodes: list[RouterCandidate], taken: set[str]) -> dict[int, str]:
    """Node comments name the routers; a comment that is missing, repeated or `taken` by a
    router of no listed node gets the node id added (and a number, if that too is taken)."""
    counted = Counter(node.name for node in nodes)
    names = {
        node.node_id: node.name
        for node in nodes
        if node.name and counted[node.name] == 1 and node.name not in taken
    }
    used = taken | set(names.values())
    for node in nodes:
        if node.node_id in names:
            continue
        base = f"{node.name or 'node'}-{node.node_id}"
        name, number = base, 1
        while name in used:
            number += 1
            name = f"{base}-{number}"
        names[node.node_id] = name
        used.add(name)
    return names
