"""The routers table: one row per router, known by its name or, if a source lists it under
an id of its own (an ISPCube node), by that id.

Kept apart from the snapshot tables because a router is upserted one at a time, while its
secrets, sessions and queues are replaced as whole snapshots.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from emerald_cli.store.schema import ROUTER_TABLES, routers
from emerald_cli.store.statuses import ROUTER_SOURCES
from emerald_cli.store.timestamps import require_aware, utc_now

logger = logging.getLogger(__name__)

# Router columns upsert_router sets from its **fields.
ROUTER_FIELDS = frozenset({"identity", "version", "board", "uptime", "last_polled_at"})


def upsert_router(
    conn: sa.Connection,
    *,
    name: str,
    host: str,
    port: int,
    now: datetime | None = None,
    **fields: Any,
) -> int:
    """Create the router named `name` or update it in place; returns its id.

    This is how a poll (and so the inventory file) knows a router: a router it meets first
    counts as the inventory's, and a known one keeps who listed it, so that the routers
    ISPCube's nodes name are still ISPCube's after they were polled. One INSERT ... ON
    CONFLICT statement, so two processes adding the same router both succeed. `fields` may
    set identity, version, board, uptime and last_polled_at.
    """
    unknown = fields.keys() - ROUTER_FIELDS
    if unknown:
        raise ValueError(f"routers has no settable column(s) {', '.join(sorted(unknown))}")

    now = now or utc_now()
    require_aware(now)

    values = {"host": host, "port": port, **fields}
    statement = _dialect_insert(conn).values(
        name=name, source="inventory", **values, first_seen_at=now, last_seen_at=now
    )
    statement = statement.on_conflict_do_update(
        index_elements=[routers.c.name],
        set_={**values, "last_seen_at": now, "removed_at": None},
    ).returning(routers.c.id)

    router_id = conn.execute(statement).scalar_one()
    logger.debug("router=%s id=%d upserted", name, router_id)
    return router_id


def upsert_node_router(
    conn: sa.Connection,
    *,
    source: str,
    node_id: int,
    name: str,
    host: str,
    port: int,
    now: datetime,
) -> int:
    """Create or update the router `source` lists as node `node_id`; returns its id.

    Found by its node id, not by its name: a renamed node renames its router, which keeps its
    id and so the secrets, sessions and queues stored under it, with their history. `name`
    must be free or already this router's (the caller picks it): taking another router's
    name is an IntegrityError, never a merge of two routers.
    """
    if source not in ROUTER_SOURCES:
        raise ValueError(f"router source {source!r} is not one of {', '.join(ROUTER_SOURCES)}")
    require_aware(now)

    values = {"name": name, "host": host, "port": port, "source": source}
    statement = _dialect_insert(conn).values(
        node_id=node_id, **values, first_seen_at=now, last_seen_at=now
    )
    statement = statement.on_conflict_do_update(
        index_elements=[routers.c.node_id],
        set_={**values, "last_seen_at": now, "removed_at": None},
    ).returning(routers.c.id)

    router_id = conn.execute(statement).scalar_one()
    logger.debug("router=%s id=%d upserted as node %d of %s", name, router_id, node_id, source)
    return router_id


def adopt_router(conn: sa.Connection, router_id: int, *, source: str, node_id: int) -> None:
    """Make the inventory's router `router_id` the router of node `node_id` of `source`.

    The same device listed by both is one router: the row keeps its id, and so the secrets,
    sessions and queues stored under it with their history. upsert_node_router, by node id,
    then gives it the node's name and address. Only a router no node has can be adopted.
    """
    if source not in ROUTER_SOURCES:
        raise ValueError(f"router source {source!r} is not one of {', '.join(ROUTER_SOURCES)}")

    result = conn.execute(
        routers.update()
        .where(
            routers.c.id == router_id,
            routers.c.source == "inventory",
            routers.c.node_id.is_(None),
        )
        .values(source=source, node_id=node_id)
    )
    if result.rowcount != 1:
        raise ValueError(f"router id {router_id} is no inventory router without a node")
    logger.debug("router id=%d adopted as node %d of %s", router_id, node_id, source)


@dataclass(frozen=True)
class NodeRouter:
    """A live router a node names, as a poll must find it.

    NodeRouter(name="NODO NORTE", host="192.0.2.20", port=8728, node_id=4)
    """

    name: str
    host: str
    port: int
    node_id: int


def node_routers(conn: sa.Connection) -> list[NodeRouter]:
    """The live routers of nodes, by name: what `sync mikrotik` polls without an inventory,
    and the names an inventory must not take for other devices."""
    columns = (routers.c.name, routers.c.host, routers.c.port, routers.c.node_id)
    query = (
        sa.select(*columns)
        .where(routers.c.node_id.is_not(None), routers.c.removed_at.is_(None))
        .order_by(routers.c.name)
    )
    return [NodeRouter(*row) for row in conn.execute(query)]


def _dialect_insert(conn: sa.Connection) -> postgresql.Insert | sqlite.Insert:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(routers)
    return sqlite.insert(routers)


def mark_router_polled(
    conn: sa.Connection,
    router_id: int,
    identity: str | None,
    version: str | None,
    board: str | None,
    uptime: str | None,
    now: datetime,
) -> None:
    """Record what the router said about itself on a poll that succeeded."""
    require_aware(now)
    result = conn.execute(
        routers.update()
        .where(routers.c.id == router_id)
        .values(
            identity=identity,
            version=version,
            board=board,
            uptime=uptime,
            last_polled_at=now,
            last_seen_at=now,
            removed_at=None,
        )
    )
    if result.rowcount != 1:
        raise ValueError(f"no router with id {router_id}")


def retire_routers(conn: sa.Connection, router_ids: list[int], now: datetime) -> None:
    """Mark routers removed, and every row read from them: a router no source lists any more
    is not polled, so its secrets and sessions are no longer current either. A router that
    comes back is polled again, and its rows come back with it."""
    require_aware(now)
    if not router_ids:
        return

    conn.execute(routers.update().where(routers.c.id.in_(router_ids)).values(removed_at=now))
    for table in ROUTER_TABLES:
        conn.execute(
            table.update()
            .where(table.c.router_id.in_(router_ids), table.c.removed_at.is_(None))
            .values(removed_at=now)
        )
