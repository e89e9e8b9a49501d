"""Migrations from code: from empty, idempotent, in the search_path schema, and race-safe."""

from __future__ import annotations

import multiprocessing
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from emerald_cli.store.database import make_engine
from emerald_cli.store.errors import SchemaNewer, SchemaOutdated
from emerald_cli.store.migrate import (
    MIGRATIONS_DIR,
    current_revision,
    ensure_schema,
    head_revision,
    pending_revisions,
    upgrade,
)
from emerald_cli.store.routers import upsert_router
from emerald_cli.store.schema import NATURAL_KEYS, metadata, nodes, ppp_secrets, routers
from emerald_cli.store.snapshot import write_snapshot
from tests.store.conftest import REVISIONS, revisions_after
from tests.store.test_saas_tables import downgraded

NOW = datetime(2024, 12, 3, 10, 0, 0, tzinfo=UTC)
KEY = ("router_id", "name")

TABLES = [
    "alembic_version",
    "connections",
    "customer_emails",
    "customer_phones",
    "customers",
    "nodes",
    "olts",
    "onu_signal_readings",
    "onu_signals",
    "onu_statuses",
    "onus",
    "plans",
    "ppp_active",
    "ppp_profiles",
    "ppp_secrets",
    "queues",
    "routers",
    "sync_locks",
    "sync_runs",
    "sync_targets",
]

HEAD = REVISIONS[-1]


def table_names(engine: sa.Engine) -> list[str]:
    """Tables in the connection's own schema (the search_path one on PostgreSQL)."""
    with engine.connect() as conn:
        return sorted(sa.inspect(conn).get_table_names())


def test_empty_database_has_every_revision_pending(empty_engine: sa.Engine) -> None:
    assert current_revision(empty_engine) is None
    assert pending_revisions(empty_engine) == REVISIONS
    assert head_revision() == HEAD


def test_upgrade_applies_from_empty_then_does_nothing(empty_engine: sa.Engine) -> None:
    first = upgrade(empty_engine)
    second = upgrade(empty_engine)

    assert (first, second) == (REVISIONS, [])
    assert current_revision(empty_engine) == HEAD
    assert pending_revisions(empty_engine) == []
    assert table_names(empty_engine) == TABLES


def test_tables_land_in_the_search_path_schema(empty_engine: sa.Engine) -> None:
    if empty_engine.dialect.name != "postgresql":
        pytest.skip("schemas are a PostgreSQL matter")

    upgrade(empty_engine)

    with empty_engine.connect() as conn:
        schema = conn.execute(sa.text("SELECT current_schema()")).scalar_one()
        found = conn.execute(
            sa.text(
                "SELECT table_schema FROM information_schema.tables "
                "WHERE table_name = 'sync_runs' ORDER BY table_schema"
            )
        ).scalars()
        assert schema in list(found)
    assert schema.startswith("t_")


def test_migrations_match_the_models(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_snapshot_tables_leave_room_for_in_place_updates_on_postgres(engine: sa.Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("fillfactor is a PostgreSQL setting")
    query = sa.text(
        "SELECT relname, reloptions FROM pg_class "
        "WHERE relnamespace = current_schema()::regnamespace AND relkind = 'r'"
    )
    with engine.connect() as conn:
        options = dict(conn.execute(query).all())

    assert {name: options[name] for name in NATURAL_KEYS} == {
        name: ["fillfactor=60"] for name in NATURAL_KEYS
    }
    assert options["sync_runs"] is None


def test_ensure_schema_without_apply_refuses_an_old_schema(empty_engine: sa.Engine) -> None:
    with pytest.raises(SchemaOutdated, match="run `emerald db upgrade`"):
        ensure_schema(empty_engine, apply=False)

    assert table_names(empty_engine) == []


def test_ensure_schema_applies_what_is_pending(empty_engine: sa.Engine) -> None:
    assert ensure_schema(empty_engine) == REVISIONS
    assert ensure_schema(empty_engine, apply=False) == []


def test_a_revision_from_a_newer_emerald_is_refused(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0099'"))

    with pytest.raises(SchemaNewer, match="revision 0099, which this version of emerald"):
        ensure_schema(engine)


def _upgrade_in_a_process(url: str) -> list[str]:
    engine = make_engine(url)
    try:
        return upgrade(engine)
    finally:
        engine.dispose()


def test_two_processes_upgrading_at_once_apply_it_once(database_url: str) -> None:
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        results = list(pool.map(_upgrade_in_a_process, [database_url, database_url]))

    assert sorted(results) == [[], REVISIONS]


def test_postgres_upgrades_queue_on_the_advisory_lock(empty_engine: sa.Engine) -> None:
    """Both processes are made to wait on the lock first, so they really do race."""
    if empty_engine.dialect.name != "postgresql":
        pytest.skip("the advisory lock is PostgreSQL's")
    url = empty_engine.url.render_as_string(hide_password=False)
    context = multiprocessing.get_context("fork")

    with empty_engine.connect() as holder, ProcessPoolExecutor(2, mp_context=context) as pool:
        holder.execute(sa.text(f"SELECT pg_advisory_lock({LOCK_KEY})"))
        futures = [pool.submit(_upgrade_in_a_process, url) for _ in range(2)]
        _wait_for_lock_waiters(holder, 2)
        holder.execute(sa.text(f"SELECT pg_advisory_unlock({LOCK_KEY})"))
        results = sorted(future.result() for future in futures)

    assert results == [[], REVISIONS]


LOCK_KEY = "hashtext('emerald-migrate:' || current_schema())"


def _wait_for_lock_waiters(conn: sa.Connection, expected: int) -> None:
    waiting = sa.text(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    for _poll in range(600):
        if conn.execute(waiting).scalar_one() >= expected:
            return
        time.sleep(0.05)
    pytest.fail(f"{expected} upgrades never queued on the advisory lock")


LATER_REVISION = """
import sqlalchemy as sa
from alembic import op

revision = "0099"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("zones", sa.Column("id", sa.Integer, primary_key=True))
    rebuild = "always" if op.get_bind().dialect.name == "sqlite" else "auto"
    with op.batch_alter_table("routers", recreate=rebuild) as batch:
        batch.add_column(sa.Column("zone", sa.Text))
    {failure}


def downgrade():
    pass
"""


def migrations_with_a_later_revision(tmp_path: Path, failure: str = "") -> Path:
    """A copy of the package's migrations plus a 0099 that rebuilds the routers table."""
    folder = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, folder, ignore=shutil.ignore_patterns("__pycache__"))
    later = LATER_REVISION.format(head=HEAD, failure=failure)
    (folder / "versions" / "0099_zones.py").write_text(later)
    return folder


def store_one_secret(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        router_id = upsert_router(conn, name="core-1", host="10.0.0.1", port=8728)
        write_snapshot(conn, ppp_secrets, {"router_id": router_id}, KEY, [{"name": "a"}], NOW)


def count_secrets(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(ppp_secrets)).scalar_one()


def test_rebuilding_the_routers_table_keeps_their_rows(engine: sa.Engine, tmp_path: Path) -> None:
    """On SQLite the batch migration drops and recreates routers: no cascade may follow."""
    store_one_secret(engine)

    applied = upgrade(engine, migrations=migrations_with_a_later_revision(tmp_path))

    assert applied == ["0099"]
    assert count_secrets(engine) == 1
    assert "zones" in table_names(engine)


def test_a_failing_migration_leaves_nothing_behind(engine: sa.Engine, tmp_path: Path) -> None:
    store_one_secret(engine)
    folder = migrations_with_a_later_revision(tmp_path, 'raise RuntimeError("half way")')

    with pytest.raises(RuntimeError, match="half way"):
        upgrade(engine, migrations=folder)

    assert current_revision(engine) == HEAD
    assert table_names(engine) == TABLES
    with engine.connect() as conn:
        columns = [column["name"] for column in sa.inspect(conn).get_columns("routers")]
    assert "zone" not in columns
    assert count_secrets(engine) == 1


# Migration 0007: a node's router is known by the node id


def test_0007_keeps_one_router_per_node_and_the_rest_as_history(engine: sa.Engine) -> None:
    """Before 0007 a renamed node got a second row. Node 1 was renamed and renamed back: the
    row with its name goes on. Node 3 was renamed once: the row made last, with the new name
    (the nodes table was not written). Node 2 is gone: its last row keeps the node id."""
    later = NOW + timedelta(hours=1)
    downgraded(engine, "0006")
    with engine.begin() as conn:
        ids = {
            name: upsert_router(conn, name=name, host="10.0.0.1", port=8728, now=NOW)
            for name in ("NODO UNO", "NODO UNO BIS", "nodo-2-a", "nodo-2-b", "C", "C2", "core-1")
        }
        for name in ("NODO UNO", "NODO UNO BIS", "nodo-2-b", "C2"):
            write_snapshot(conn, ppp_secrets, {"router_id": ids[name]}, KEY, [{"name": "a"}], NOW)
        write_snapshot(conn, nodes, {}, ("node_id",), [{"node_id": 1, "name": "NODO UNO"}], NOW)
        for name, node_id, removed_at in (
            ("NODO UNO", 1, None),
            ("NODO UNO BIS", 1, None),
            ("nodo-2-a", 2, NOW),
            ("nodo-2-b", 2, later),
            ("C", 3, None),
            ("C2", 3, None),
        ):
            conn.execute(
                routers.update()
                .where(routers.c.id == ids[name])
                .values(source="ispcube", node_id=node_id, removed_at=removed_at)
            )

    assert upgrade(engine) == revisions_after("0006")

    with engine.connect() as conn:
        rows = conn.execute(sa.select(routers.c.name, routers.c.node_id, routers.c.removed_at))
        stored = {row.name: (row.node_id, row.removed_at) for row in rows}
    assert stored == {
        "NODO UNO": (1, None),
        "NODO UNO BIS": (None, NOW),
        "nodo-2-a": (None, NOW),
        "nodo-2-b": (2, later),
        "C": (None, NOW),
        "C2": (3, None),
        "core-1": (None, None),
    }
    # The secrets of a removed router are removed with it; those of the node routers kept live
    # stay current.
    with engine.connect() as conn:
        query = sa.select(routers.c.name, ppp_secrets.c.removed_at).join(
            routers, routers.c.id == ppp_secrets.c.router_id
        )
        secrets = dict(conn.execute(query).all())
    assert secrets == {"NODO UNO": None, "NODO UNO BIS": NOW, "nodo-2-b": later, "C2": None}


# Migration 0009: SQLite times in one text form


def test_0009_gives_sqlite_times_written_without_a_fraction_one(engine: sa.Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("only SQLite stores times as text")
    downgraded(engine, "0008")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO routers (name, host, port, source, first_seen_at, last_seen_at) "
            "VALUES ('core-1', '10.0.0.1', 8728, 'inventory', '2024-06-01 03:00:00', "
            "'2024-06-01 03:00:00.250000')"
        )

    assert upgrade(engine) == revisions_after("0008")

    with engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT first_seen_at, last_seen_at FROM routers").one()
    assert tuple(stored) == ("2024-06-01 03:00:00.000000", "2024-06-01 03:00:00.250000")
