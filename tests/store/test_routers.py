"""upsert_router, upsert_node_router, adopt_router and mark_router_polled: one row per router,
updated in place, found by its name or, for a node's router, by the node id."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from emerald_cli.store import snapshot
from emerald_cli.store.routers import (
    NodeRouter,
    adopt_router,
    mark_router_polled,
    node_routers,
    upsert_node_router,
    upsert_router,
)
from emerald_cli.store.schema import ppp_secrets, routers
from emerald_cli.store.snapshot import write_snapshot

T0 = datetime(2024, 12, 3, 10, 0, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)


def router_rows(engine: sa.Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(sa.select(routers).order_by("id")).mappings()]


def test_a_new_router_is_created(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        router_id = upsert_router(conn, name="core-1", host="10.0.0.1", port=8728, now=T0)

    assert router_rows(engine) == [
        {
            "id": router_id,
            "name": "core-1",
            "host": "10.0.0.1",
            "port": 8728,
            "identity": None,
            "version": None,
            "board": None,
            "uptime": None,
            "last_polled_at": None,
            "source": "inventory",
            "node_id": None,
            "first_seen_at": T0,
            "last_seen_at": T0,
            "removed_at": None,
        }
    ]


def test_the_same_name_updates_the_same_row(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        first = upsert_router(conn, name="core-7", host="10.0.0.7", port=8728, now=T0)
        conn.execute(routers.update().values(removed_at=T0))
    with engine.begin() as conn:
        second = upsert_router(
            conn, name="core-7", host="10.0.7.1", port=18728, identity="Core 7", now=T1
        )

    [row] = router_rows(engine)
    assert second == first
    assert (row["host"], row["port"], row["source"], row["node_id"]) == (
        "10.0.7.1",
        18728,
        "inventory",
        None,
    )
    assert (row["identity"], row["first_seen_at"], row["last_seen_at"]) == ("Core 7", T0, T1)
    assert row["removed_at"] is None


def node_router(conn: sa.Connection, name: str, node_id: int = 7, now: datetime = T0) -> int:
    return upsert_node_router(
        conn, source="ispcube", node_id=node_id, name=name, host="10.0.7.1", port=8728, now=now
    )


def test_a_node_router_is_found_by_its_node_id_and_renamed(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        first = node_router(conn, "nodo-7")
        conn.execute(routers.update().values(removed_at=T0))
    with engine.begin() as conn:
        second = node_router(conn, "NODO SIETE", now=T1)

    [row] = router_rows(engine)
    assert second == first
    assert (row["name"], row["source"], row["node_id"]) == ("NODO SIETE", "ispcube", 7)
    assert (row["first_seen_at"], row["last_seen_at"], row["removed_at"]) == (T0, T1, None)


def test_a_node_router_never_takes_another_routers_name(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        upsert_router(conn, name="core-1", host="10.0.0.1", port=8728, now=T0)
        node_router(conn, "nodo-7")

    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        node_router(conn, "core-1", now=T1)

    rows = {row["name"]: (row["source"], row["node_id"]) for row in router_rows(engine)}
    assert rows == {"core-1": ("inventory", None), "nodo-7": ("ispcube", 7)}


def test_a_poll_keeps_who_listed_the_router(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        node_router(conn, "nodo-7")
        upsert_router(conn, name="core-1", host="10.0.0.1", port=8728, now=T0)
    with engine.begin() as conn:
        upsert_router(conn, name="nodo-7", host="10.0.7.1", port=8728, now=T1)

    rows = {row["name"]: (row["source"], row["node_id"]) for row in router_rows(engine)}
    assert rows == {"nodo-7": ("ispcube", 7), "core-1": ("inventory", None)}


def test_an_adopted_router_keeps_its_id_and_rows_as_the_nodes(engine: sa.Engine) -> None:
    """The node's name and address come from upsert_node_router, found by the adopted node id."""
    with engine.begin() as conn:
        router_id = router_with_a_secret(conn, "core-7", "10.0.7.1")
    [created] = router_rows(engine)
    with engine.begin() as conn:
        adopt_router(conn, router_id, source="ispcube", node_id=7)
        adopted = node_router(conn, "nodo-7", now=T1)

    assert adopted == router_id
    changed = {"name": "nodo-7", "source": "ispcube", "node_id": 7, "last_seen_at": T1}
    assert router_rows(engine) == [{**created, **changed}]
    with engine.connect() as conn:
        secrets = conn.execute(sa.select(ppp_secrets.c.router_id, ppp_secrets.c.name)).all()
    assert [tuple(row) for row in secrets] == [(router_id, "ana")]


def router_with_a_secret(conn: sa.Connection, name: str, host: str) -> int:
    """An inventory router first seen at T0, holding the secret `ana`."""
    router_id = upsert_router(conn, name=name, host=host, port=8728, now=T0)
    key = ("router_id", "name")
    write_snapshot(conn, ppp_secrets, {"router_id": router_id}, key, [{"name": "ana"}], T0)
    return router_id


def test_only_an_inventory_router_without_a_node_is_adopted(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        node = node_router(conn, "nodo-7")
        core = upsert_router(conn, name="core-1", host="10.0.0.1", port=8728, now=T0)

    for router_id in (node, 999):
        refused = f"router id {router_id} is no inventory router without a node"
        with pytest.raises(ValueError, match=refused), engine.begin() as conn:
            adopt_router(conn, router_id, source="ispcube", node_id=8)
    with pytest.raises(ValueError, match="router source 'smartolt'"), engine.begin() as conn:
        adopt_router(conn, core, source="smartolt", node_id=8)
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        adopt_router(conn, core, source="ispcube", node_id=7)  # node 7 has its router

    rows = {row["name"]: (row["id"], row["source"], row["node_id"]) for row in router_rows(engine)}
    assert rows == {"nodo-7": (node, "ispcube", 7), "core-1": (core, "inventory", None)}


def test_node_routers_are_the_live_routers_of_nodes(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        node_router(conn, "nodo-7")
        upsert_node_router(
            conn, source="ispcube", node_id=8, name="nodo-8", host="h8", port=1, now=T0
        )
        upsert_router(conn, name="core-1", host="10.0.0.1", port=8728, now=T0)
        conn.execute(routers.update().where(routers.c.node_id == 8).values(removed_at=T1))

        assert node_routers(conn) == [NodeRouter("nodo-7", "10.0.7.1", 8728, 7)]


def test_unknown_fields_and_sources_are_refused(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        with pytest.raises(ValueError, match="no settable column"):
            upsert_router(conn, name="core-1", host="h", port=1, password="x")
        with pytest.raises(ValueError, match="router source 'smartolt'"):
            upsert_node_router(
                conn, source="smartolt", node_id=1, name="olt", host="h", port=1, now=T0
            )

    assert router_rows(engine) == []


def test_mark_router_polled_records_what_the_router_said(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        router_id = upsert_router(conn, name="core-1", host="10.0.0.1", port=8728, now=T0)
        mark_router_polled(conn, router_id, "CORE-1", "7.15.3 (stable)", "CCR2004", "3w2d", T1)

    [row] = router_rows(engine)
    polled = {key: row[key] for key in ("identity", "version", "board", "uptime")}
    assert polled == {
        "identity": "CORE-1",
        "version": "7.15.3 (stable)",
        "board": "CCR2004",
        "uptime": "3w2d",
    }
    assert (row["last_polled_at"], row["last_seen_at"]) == (T1, T1)


def test_mark_router_polled_on_an_unknown_router_fails(engine: sa.Engine) -> None:
    with engine.begin() as conn, pytest.raises(ValueError, match="no router with id 999"):
        mark_router_polled(conn, 999, None, None, None, None, T1)


def test_deleting_a_router_deletes_its_rows(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        router_with_a_secret(conn, "core-1", "10.0.0.1")

    with engine.begin() as conn:
        conn.execute(routers.delete())

    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(ppp_secrets)).scalar() == 0


def test_the_snapshot_module_offers_the_router_functions_too() -> None:
    assert (snapshot.upsert_router, snapshot.mark_router_polled) == (
        upsert_router,
        mark_router_polled,
    )
