"""The ISPCube and SmartOLT tables: migration 0002, typed snapshots, and the readings history.

Rows are shaped like the normalisers' records (ints, Decimals, flags, aware times in the
account's zone) with the invented values of the reference samples.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from emerald_cli.store.counts import ChangeCounts
from emerald_cli.store.history import append_rows
from emerald_cli.store.migrate import MIGRATIONS_DIR, current_revision, upgrade
from emerald_cli.store.routers import upsert_router
from emerald_cli.store.runs import start_run
from emerald_cli.store.schema import (
    NATURAL_KEYS,
    SAAS_TABLES,
    customers,
    metadata,
    onu_signal_readings,
    onus,
    ppp_secrets,
    sync_runs,
)
from emerald_cli.store.snapshot import write_snapshot
from tests.store.conftest import revisions_after

BUENOS_AIRES = ZoneInfo("America/Argentina/Buenos_Aires")
T0 = datetime(2024, 12, 3, 10, 0, 0, 123456, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)
T2 = T0 + timedelta(minutes=10)

POSITION = ("olt_id", "board", "port", "onu")
BOOKKEEPING = ("id", "first_seen_at", "last_seen_at", "removed_at", "content_hash")

ONU_RAW = {
    "unique_external_id": "HWTC0000A001",
    "sn": "HWTC0000A001",
    "olt_id": "1",
    "board": "0",
    "port": "1",
    "onu": "3",
    "name": "pp-0001",
    "signal_1310": "-23.10",
    "service_ports": [{"service_port": "101", "vlan": "100"}],
}

# One typed row per table as the engine passes it, and the same row as read back: Decimals
# at the column's scale, times in UTC, `raw` as canonical JSON.
SENT: dict[str, dict[str, Any]] = {
    "plans": {
        "plan_id": 12,
        "name": "FIBRA 100",
        "speed": "100",
        "comment": None,
        "raw": {"id": 12, "name": "FIBRA 100", "speed": "100", "comment": None},
    },
    "nodes": {
        "node_id": 3,
        "name": "NODO CENTRO",
        "ip": "192.0.2.10",
        "port": 8728,
        "port_defaulted": True,
        "raw": {"id": 3, "comment": "NODO CENTRO", "ip": "192.0.2.10", "port": ""},
    },
    "customers": {
        "customer_id": 1002,
        "code": "000102",
        "name": "CLIENTE DE PRUEBA DOS",
        "status": "no_service",
        "doc_number": "20-20000002-7",
        "address": "Calle Falsa 200",
        "tax_residence": "Peña 200",
        "city_id": 1,
        "city_name": "CIUDAD",
        "lat": Decimal("-34.6"),
        "lng": Decimal("-58.381592123456"),
        "debt": Decimal("15400"),
        "duedebt": Decimal("-0.5"),
        "block": True,
        "free": False,
        "speed_limited": False,
        "temporary": True,
        "extra1": "ZONA NORTE",
        "extra2": None,
        "start_date": datetime(2023, 3, 1, 0, 0, tzinfo=BUENOS_AIRES),
        "created_at": datetime(2023, 3, 1, 13, 10, tzinfo=UTC),
        "updated_at": datetime(2024, 6, 9, 22, 41, 5, 250000, tzinfo=BUENOS_AIRES),
        "deleted_at": None,
        "raw": {"id": 1002, "debt": "15400.00", "city": {"id": 1, "name": "CIUDAD"}},
    },
    "customer_emails": {"customer_id": 1001, "email": "cliente1@example.com"},
    "customer_phones": {"customer_id": 1001, "number": "0000000001"},
    "connections": {
        "connection_id": 5003,
        "customer_id": 1001,
        "pppoe_user": "10045",
        "node_id": 4,
        "plan_id": 12,
        "address": None,
        "conntype": "pppoe",
        "raw": {"id": 5003, "user": "10045", "conntype": "pppoe"},
    },
    "olts": {
        "olt_id": 1,
        "name": "OLT-CENTRO",
        "hardware_version": "MA5800-X7",
        "ip": "10.0.0.2",
        "telnet_port": 23,
        "snmp_port": 161,
        "raw": {"id": "1", "name": "OLT-CENTRO", "telnet_port": "23"},
    },
    "onus": {
        "olt_id": 1,
        "board": 0,
        "port": 1,
        "onu": 3,
        "unique_external_id": "HWTC0000A001",
        "sn": "HWTC0000A001",
        "olt_name": "OLT-CENTRO",
        "onu_type_id": 7,
        "onu_type_name": "HG8546M",
        "zone_id": 2,
        "zone_name": "Centro",
        "name": "pp-0001",
        "address": "Calle Falsa 100",
        "contact": None,
        "latitude": Decimal("-34.590000"),
        "longitude": None,
        "odb_name": "NAP-12",
        "odb_port": "4",
        "mode": "Routing",
        "wan_mode": "PPPoE",
        "vlan": 100,
        "username": "pp-0001",
        "catv": "Not supported",
        "administrative_status": "Enabled",
        "authorization_date": datetime(2023, 3, 2, 10, 15, tzinfo=BUENOS_AIRES),
        "status": "Online",
        "last_status_change": datetime(2024, 6, 1, 8, 0, 10, tzinfo=BUENOS_AIRES),
        "signal": "Very good",
        "signal_1310": Decimal("-23.1"),
        "signal_1490": Decimal("-19.45"),
        "service_ports": [
            {"service_port": 101, "vlan": 100, "upload_speed": "100M", "download_speed": "100M"}
        ],
        "raw": ONU_RAW,
    },
    "onu_statuses": {
        "unique_external_id": "HWTC0000A002",
        "sn": "HWTC0000A002",
        "olt_id": 1,
        "board": 0,
        "port": 1,
        "onu": 4,
        "name": "pp-0002",
        "status": "LOS",
        "last_status_change": datetime(2024, 6, 9, 22, 41, 5, tzinfo=BUENOS_AIRES),
        "raw": {"unique_external_id": "HWTC0000A002", "status": "LOS"},
    },
    "onu_signals": {
        "olt_id": 2,
        "board": 1,
        "port": 7,
        "onu": 12,
        "unique_external_id": "ZTEG0000B003",
        "sn": "ZTEG0000B003",
        "signal": "Warning",
        "signal_1310": Decimal("-30.46"),
        "signal_1490": Decimal("-28.1"),
        "raw": {"unique_external_id": "ZTEG0000B003", "signal_1490": "-28.10 dBm"},
    },
}

STORED: dict[str, dict[str, Any]] = {
    "plans": {
        **SENT["plans"],
        "raw": '{"comment":null,"id":12,"name":"FIBRA 100","speed":"100"}',
    },
    "nodes": {
        **SENT["nodes"],
        "raw": '{"comment":"NODO CENTRO","id":3,"ip":"192.0.2.10","port":""}',
    },
    "customers": {
        **SENT["customers"],
        "lat": Decimal("-34.600000000000"),
        "lng": Decimal("-58.381592123456"),
        "debt": Decimal("15400.00"),
        "duedebt": Decimal("-0.50"),
        "start_date": datetime(2023, 3, 1, 3, 0, tzinfo=UTC),
        "updated_at": datetime(2024, 6, 10, 1, 41, 5, 250000, tzinfo=UTC),
        "raw": '{"city":{"id":1,"name":"CIUDAD"},"debt":"15400.00","id":1002}',
    },
    "customer_emails": {**SENT["customer_emails"], "raw": None},
    "customer_phones": {**SENT["customer_phones"], "raw": None},
    "connections": {
        **SENT["connections"],
        "raw": '{"conntype":"pppoe","id":5003,"user":"10045"}',
    },
    "olts": {
        **SENT["olts"],
        "raw": '{"id":"1","name":"OLT-CENTRO","telnet_port":"23"}',
    },
    "onus": {
        **SENT["onus"],
        "latitude": Decimal("-34.590000000000"),
        "authorization_date": datetime(2023, 3, 2, 13, 15, tzinfo=UTC),
        "last_status_change": datetime(2024, 6, 1, 11, 0, 10, tzinfo=UTC),
        "signal_1310": Decimal("-23.10"),
        "service_ports": (
            '[{"download_speed":"100M","service_port":101,"upload_speed":"100M","vlan":100}]'
        ),
        "raw": (
            '{"board":"0","name":"pp-0001","olt_id":"1","onu":"3","port":"1",'
            '"service_ports":[{"service_port":"101","vlan":"100"}],"signal_1310":"-23.10",'
            '"sn":"HWTC0000A001","unique_external_id":"HWTC0000A001"}'
        ),
    },
    "onu_statuses": {
        **SENT["onu_statuses"],
        "last_status_change": datetime(2024, 6, 10, 1, 41, 5, tzinfo=UTC),
        "raw": '{"status":"LOS","unique_external_id":"HWTC0000A002"}',
    },
    "onu_signals": {
        **SENT["onu_signals"],
        "signal_1490": Decimal("-28.10"),
        "raw": '{"signal_1490":"-28.10 dBm","unique_external_id":"ZTEG0000B003"}',
    },
}

# A value to change in each table's row, to be counted as an update.
CHANGES: dict[str, tuple[str, Any]] = {
    "plans": ("name", "FIBRA 300"),
    "nodes": ("port_defaulted", False),
    "customers": ("debt", Decimal("15400.01")),
    "customer_emails": ("raw", {"email": "cliente1@example.com"}),
    "customer_phones": ("raw", {"number": "0000000001"}),
    "connections": ("plan_id", 13),
    "olts": ("snmp_port", 1161),
    "onus": ("last_status_change", datetime(2024, 6, 1, 8, 0, 11, tzinfo=BUENOS_AIRES)),
    "onu_statuses": ("status", "Online"),
    "onu_signals": ("signal_1490", Decimal("-28.11")),
}

TABLES = {table.name: table for table in SAAS_TABLES}


def snapshot(
    engine: sa.Engine, table: sa.Table, rows: list[dict[str, Any]], now: datetime
) -> ChangeCounts:
    with engine.begin() as conn:
        return write_snapshot(conn, table, {}, NATURAL_KEYS[table.name], rows, now)


def stored_rows(engine: sa.Engine, table: sa.Table) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [
            dict(row) for row in conn.execute(sa.select(table).order_by(table.c.id)).mappings()
        ]


def values_of(row: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in row.items() if name not in BOOKKEEPING}


def assert_exact(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    """Equal, and equal in repr too: Decimal scale, the UTC zone and bool vs int all count."""
    assert actual == expected
    assert {name: repr(value) for name, value in actual.items()} == {
        name: repr(value) for name, value in expected.items()
    }


# Migration 0002


def test_every_saas_table_is_unique_on_its_natural_key(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        inspector = sa.inspect(conn)
        found = {
            name: [
                (constraint["name"], constraint["column_names"])
                for constraint in inspector.get_unique_constraints(name)
            ]
            for name in TABLES
        }

    assert found == {
        name: [(f"uq_{name}_{'_'.join(key)}", list(key))]
        for name, key in NATURAL_KEYS.items()
        if name in TABLES
    }


def test_the_indexes_and_the_readings_foreign_key(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        inspector = sa.inspect(conn)
        indexes = {
            name: sorted(
                (index["name"], index["column_names"])
                for index in inspector.get_indexes(name)
                # PostgreSQL also lists the index behind each unique constraint.
                if "duplicates_constraint" not in index
            )
            for name in ("connections", "onus", "onu_signal_readings")
        }
        foreign_keys = inspector.get_foreign_keys("onu_signal_readings")

    assert indexes == {
        "connections": [
            ("ix_connections_customer_id", ["customer_id"]),
            ("ix_connections_pppoe_user", ["pppoe_user"]),
        ],
        "onus": [
            ("ix_onus_name", ["name"]),
            ("ix_onus_sn", ["sn"]),
            ("ix_onus_unique_external_id", ["unique_external_id"]),
            ("ix_onus_username", ["username"]),
        ],
        "onu_signal_readings": [
            (
                "ix_onu_signal_readings_olt_id_board_port_onu_read_at",
                ["olt_id", "board", "port", "onu", "read_at"],
            ),
            (
                "ix_onu_signal_readings_unique_external_id_read_at",
                ["unique_external_id", "read_at"],
            ),
        ],
    }
    assert [
        (key["name"], key["constrained_columns"], key["referred_table"], key["options"])
        for key in foreign_keys
    ] == [
        (
            "fk_onu_signal_readings_run_id_sync_runs",
            ["run_id"],
            "sync_runs",
            {"ondelete": "SET NULL"},
        )
    ]


def test_0002_upgrades_a_database_at_0001_and_keeps_its_rows(
    empty_engine: sa.Engine, tmp_path: Path
) -> None:
    only_0001 = tmp_path / "migrations"
    shutil.copytree(
        MIGRATIONS_DIR,
        only_0001,
        ignore=lambda _folder, names: [name for name in names if _after_0001(name)],
    )
    assert upgrade(empty_engine, migrations=only_0001) == ["0001"]
    with empty_engine.begin() as conn:
        router_id = upsert_router(conn, name="core-1", host="10.0.0.1", port=8728)
        # A row as revision 0001 holds it: today's writer expects today's columns.
        conn.execute(
            ppp_secrets.insert().values(
                router_id=router_id, name="a", first_seen_at=T0, last_seen_at=T0
            )
        )

    assert upgrade(empty_engine) == revisions_after("0001")

    with empty_engine.connect() as conn:
        assert conn.execute(sa.select(ppp_secrets.c.name)).scalars().all() == ["a"]
        assert set(TABLES) <= set(sa.inspect(conn).get_table_names())


def _after_0001(name: str) -> bool:
    return name == "__pycache__" or (name[:4].isdigit() and name[:4] > "0001")


def downgraded(engine: sa.Engine, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.connect() as conn, conn.begin():
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


def test_0002_downgrades_to_0001_and_upgrades_again(engine: sa.Engine) -> None:
    downgraded(engine, "0001")
    with engine.connect() as conn:
        left = set(sa.inspect(conn).get_table_names())
    assert current_revision(engine) == "0001"
    assert left.isdisjoint({*TABLES, "onu_signal_readings"})

    assert upgrade(engine) == revisions_after("0001")


# Migration 0005: status and signal rows by PON position


def store_as_0004(engine: sa.Engine, table: str, rows: list[dict[str, Any]]) -> None:
    """Rows written with revision 0004's columns, which today's models no longer describe."""
    seen = {"first_seen_at": T0, "last_seen_at": T0} if table != "onu_signal_readings" else {}
    with engine.begin() as conn:
        for row in rows:
            values = {**seen, **row}
            conn.execute(sa.table(table, *map(sa.column, values)).insert().values(values))


def test_0005_places_stored_statuses_signals_and_readings(engine: sa.Engine) -> None:
    """SHARED names two ONUs: its old signal row cannot be placed and waits for the next run;
    its old readings stay, with no position."""
    downgraded(engine, "0004")
    onu = SENT["onus"]
    listed = [
        {**onu, "onu": 3, "unique_external_id": "ALONE"},
        {**onu, "onu": 4, "unique_external_id": "SHARED"},
        {**onu, "board": 16, "onu": 4, "unique_external_id": "SHARED"},
    ]
    snapshot(engine, onus, listed, T0)  # the ONU table is the same in 0004 and 0005
    store_as_0004(
        engine,
        "onu_statuses",
        [
            {"unique_external_id": "ALONE", "olt_id": 1, "board": 0, "port": 1, "onu": 3},
            {"unique_external_id": "SHARED", "olt_id": 1, "board": 0, "port": 1, "onu": 4},
            {"unique_external_id": "LOST", "status": "LOS"},
        ],
    )
    store_as_0004(
        engine,
        "onu_signals",
        [{"unique_external_id": name, "signal": "Warning"} for name in ("ALONE", "SHARED")],
    )
    store_as_0004(
        engine,
        "onu_signal_readings",
        [{"unique_external_id": name, "read_at": T0} for name in ("ALONE", "SHARED")],
    )

    assert upgrade(engine) == revisions_after("0004")

    def positions(table: str) -> list[tuple[Any, ...]]:
        model = metadata.tables[table]
        columns = [model.c[name] for name in ("unique_external_id", *POSITION)]
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.select(*columns).order_by(model.c.id))]

    assert positions("onu_statuses") == [("ALONE", 1, 0, 1, 3), ("SHARED", 1, 0, 1, 4)]
    assert positions("onu_signals") == [("ALONE", 1, 0, 1, 3)]
    assert positions("onu_signal_readings") == [
        ("ALONE", 1, 0, 1, 3),
        ("SHARED", None, None, None, None),
    ]


def test_0005_downgrades_and_upgrades_again(engine: sa.Engine) -> None:
    signal = SENT["onu_signals"]
    snapshot(engine, TABLES["onu_signals"], [signal, {**signal, "onu": 13}], T0)

    downgraded(engine, "0004")
    with engine.connect() as conn:
        kept = conn.execute(sa.text("SELECT unique_external_id FROM onu_signals")).all()
    assert [tuple(row) for row in kept] == [("ZTEG0000B003",)]

    assert upgrade(engine) == revisions_after("0004")


def test_reading_ids_do_not_run_out_on_postgres(engine: sa.Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite's INTEGER PRIMARY KEY is 64-bit already")
    with engine.connect() as conn:
        column = conn.execute(
            sa.text(
                "SELECT data_type FROM information_schema.columns WHERE table_schema = "
                "current_schema() AND table_name = 'onu_signal_readings' AND column_name = 'id'"
            )
        ).scalar_one()
        sequence = conn.execute(
            sa.text(
                "SELECT data_type FROM information_schema.sequences WHERE sequence_schema = "
                "current_schema() AND sequence_name = 'onu_signal_readings_id_seq'"
            )
        ).scalar_one()

    assert (column, sequence) == ("bigint", "bigint")


def test_the_models_know_every_table_0002_creates(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        in_database = set(sa.inspect(conn).get_table_names()) - {"alembic_version"}

    assert in_database == set(metadata.tables)


# Snapshots of the SaaS tables: the whole table is one scope


@pytest.mark.parametrize("name", list(SENT))
def test_snapshot_round_trip_stores_exact_values(engine: sa.Engine, name: str) -> None:
    table = TABLES[name]

    first = snapshot(engine, table, [SENT[name]], T0)
    second = snapshot(engine, table, [SENT[name]], T1)

    assert (first, second) == (ChangeCounts(inserted=1), ChangeCounts(unchanged=1))
    [row] = stored_rows(engine, table)
    assert_exact(values_of(row), STORED[name])
    assert (row["first_seen_at"], row["last_seen_at"], row["removed_at"]) == (T0, T1, None)


@pytest.mark.parametrize("name", list(SENT))
def test_a_changed_value_is_counted_as_updated(engine: sa.Engine, name: str) -> None:
    table = TABLES[name]
    column, value = CHANGES[name]
    snapshot(engine, table, [SENT[name]], T0)

    counts = snapshot(engine, table, [{**SENT[name], column: value}], T1)

    assert counts == ChangeCounts(updated=1)
    [row] = stored_rows(engine, table)
    assert row[column] == (value if column != "raw" else _canonical(value))
    assert (row["first_seen_at"], row["last_seen_at"]) == (T0, T1)


def _canonical(value: dict[str, Any]) -> str:
    [(key, text)] = value.items()
    return f'{{"{key}":"{text}"}}'


def test_every_saas_table_has_a_sample_row_and_a_change() -> None:
    assert set(SENT) == set(STORED) == set(CHANGES) == set(TABLES)


def test_a_row_left_out_is_removed_and_updated_when_it_comes_back(engine: sa.Engine) -> None:
    other = {**SENT["customers"], "customer_id": 1003, "code": "000103"}
    snapshot(engine, customers, [SENT["customers"], other], T0)

    removal = snapshot(engine, customers, [SENT["customers"]], T1)
    back = snapshot(engine, customers, [SENT["customers"], other], T2)

    assert removal == ChangeCounts(unchanged=1, removed=1)
    assert back == ChangeCounts(updated=1, unchanged=1)
    rows = {row["customer_id"]: row for row in stored_rows(engine, customers)}
    assert (rows[1003]["removed_at"], rows[1003]["last_seen_at"]) == (None, T2)
    assert rows[1003]["first_seen_at"] == T0


def test_the_empty_scope_is_the_whole_table(engine: sa.Engine) -> None:
    """ONUs of two OLTs are one snapshot: an OLT missing from the next one loses its ONUs."""
    on_olt_1 = [{**SENT["onus"], "onu": number, "raw": None} for number in (3, 4)]
    on_olt_2 = [{**SENT["onus"], "olt_id": 2, "onu": 3, "raw": None}]
    snapshot(engine, onus, on_olt_1 + on_olt_2, T0)

    counts = snapshot(engine, onus, on_olt_1, T1)

    assert counts == ChangeCounts(unchanged=2, removed=1)
    positions = {
        (row["olt_id"], row["onu"]): (row["last_seen_at"], row["removed_at"])
        for row in stored_rows(engine, onus)
    }
    assert positions == {(1, 3): (T1, None), (1, 4): (T1, None), (2, 3): (T0, T1)}


def test_equal_values_written_another_way_are_unchanged(engine: sa.Engine) -> None:
    """The same instant in another zone, the same number at another scale, 1 for True."""
    snapshot(engine, customers, [SENT["customers"]], T0)
    same = {
        **SENT["customers"],
        "lat": Decimal("-34.600000000000"),
        "debt": Decimal("15400.00"),
        "block": 1,
        "free": 0,
        "start_date": datetime(2023, 3, 1, 3, 0, tzinfo=UTC),
        "updated_at": datetime(2024, 6, 10, 1, 41, 5, 250000, tzinfo=UTC),
    }

    assert snapshot(engine, customers, [same], T1) == ChangeCounts(unchanged=1)


def test_many_typed_rows_are_unchanged_the_second_time(engine: sa.Engine) -> None:
    rows = [
        {
            **SENT["onus"],
            "board": number // 128,
            "port": number % 16,
            "onu": number % 128,
            "unique_external_id": f"HWTC{number:08X}",
            "signal_1490": Decimal(-number) / 100,
            "latitude": Decimal("-34.5") - Decimal(number) / 10**12,
            "last_status_change": datetime(2024, 6, 1, tzinfo=BUENOS_AIRES)
            + timedelta(seconds=number, microseconds=number),
        }
        for number in range(2000)
    ]
    snapshot(engine, onus, rows, T0)

    assert snapshot(engine, onus, rows, T1) == ChangeCounts(unchanged=2000)


def test_a_level_finer_than_the_column_is_unchanged_the_second_time(engine: sa.Engine) -> None:
    row = {**SENT["onu_signals"], "signal_1490": Decimal("-28.105")}
    snapshot(engine, TABLES["onu_signals"], [row], T0)

    assert snapshot(engine, TABLES["onu_signals"], [row], T1) == ChangeCounts(unchanged=1)


def test_a_raw_record_loses_its_nul_characters_and_reads_as_json(engine: sa.Engine) -> None:
    """PostgreSQL's jsonb refuses the \\u0000 escape, so a NUL kept in raw would break every
    query that reads raw as JSON."""
    raw = {"name": "CLIENTE\x00 UNO", "phones": [{"number": "\x000001"}], "note": "a\\u0000b"}
    row = {**SENT["plans"], "raw": raw}

    snapshot(engine, TABLES["plans"], [row], T0)

    [stored] = stored_rows(engine, TABLES["plans"])
    assert (
        stored["raw"] == '{"name":"CLIENTE UNO","note":"a\\\\u0000b","phones":[{"number":"0001"}]}'
    )
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            name = conn.execute(sa.text("SELECT raw::jsonb ->> 'name' FROM plans")).scalar()
        assert name == "CLIENTE UNO"


def test_an_onu_raw_with_its_password_redacted_is_stored(engine: sa.Engine) -> None:
    row = {**SENT["onus"], "raw": {**ONU_RAW, "password": "<redacted>"}}

    assert snapshot(engine, onus, [row], T0) == ChangeCounts(inserted=1)


def test_a_raw_with_a_real_password_is_refused(engine: sa.Engine) -> None:
    row = {**SENT["onus"], "raw": {**ONU_RAW, "password": "invented-secret-1"}}

    with pytest.raises(ValueError, match=r"onus\.raw holds password: secrets are never stored"):
        snapshot(engine, onus, [row], T0)

    assert stored_rows(engine, onus) == []


def test_an_onu_without_a_pon_position_is_refused(engine: sa.Engine) -> None:
    """The engine must skip such an ONU: one row without a key fails the whole snapshot."""
    row = {**SENT["onus"], "board": None}

    with pytest.raises(ValueError, match="onus row without a value for key column board"):
        snapshot(engine, onus, [row], T0)


# The readings history


def reading(number: int, read_at: datetime, run_id: int | None = None) -> dict[str, Any]:
    return {
        "olt_id": 1,
        "board": 0,
        "port": number // 128,
        "onu": number % 128,
        "unique_external_id": f"HWTC{number:08X}",
        "read_at": read_at,
        "signal": "Very good",
        "signal_1310": Decimal("-23.1"),
        "signal_1490": Decimal(-number) / 100,
        "run_id": run_id,
    }


def readings(engine: sa.Engine) -> list[dict[str, Any]]:
    return [
        {name: value for name, value in row.items() if name != "id"}
        for row in stored_rows(engine, onu_signal_readings)
    ]


def test_append_rows_adds_every_reading(engine: sa.Engine) -> None:
    run_id = start_run(engine, "smartolt", "cli")
    taken = datetime(2024, 6, 9, 22, 41, 5, 500000, tzinfo=BUENOS_AIRES)
    rows = [
        reading(1, taken, run_id),
        {"unique_external_id": "HWTC00000002", "read_at": T0},
    ]

    with engine.begin() as conn:
        first = append_rows(conn, onu_signal_readings, rows)
    with engine.begin() as conn:
        again = append_rows(conn, onu_signal_readings, rows[:1])

    assert (first, again) == (2, 1)
    at_utc = datetime(2024, 6, 10, 1, 41, 5, 500000, tzinfo=UTC)
    expected_first = {
        "olt_id": 1,
        "board": 0,
        "port": 0,
        "onu": 1,
        "unique_external_id": "HWTC00000001",
        "read_at": at_utc,
        "signal": "Very good",
        "signal_1310": Decimal("-23.10"),
        "signal_1490": Decimal("-0.01"),
        "run_id": run_id,
    }
    expected_second = {
        "olt_id": None,
        "board": None,
        "port": None,
        "onu": None,
        "unique_external_id": "HWTC00000002",
        "read_at": T0,
        "signal": None,
        "signal_1310": None,
        "signal_1490": None,
        "run_id": None,
    }
    stored = readings(engine)
    assert len(stored) == 3
    for actual, expected in zip(
        stored, [expected_first, expected_second, expected_first], strict=True
    ):
        assert_exact(actual, expected)


def test_append_rows_with_nothing_writes_nothing(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        assert append_rows(conn, onu_signal_readings, []) == 0

    assert readings(engine) == []


def test_readings_outlive_the_run_that_took_them(engine: sa.Engine) -> None:
    run_id = start_run(engine, "smartolt", "cli")
    with engine.begin() as conn:
        append_rows(conn, onu_signal_readings, [reading(1, T0, run_id)])

    with engine.begin() as conn:
        conn.execute(sa.delete(sync_runs).where(sync_runs.c.id == run_id))

    assert [(row["unique_external_id"], row["run_id"]) for row in readings(engine)] == [
        ("HWTC00000001", None)
    ]


def append_then_fail(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        append_rows(conn, onu_signal_readings, [reading(1, T0)])
        raise RuntimeError("after the append")


def test_append_rows_shares_the_callers_transaction(engine: sa.Engine) -> None:
    with pytest.raises(RuntimeError, match="after the append"):
        append_then_fail(engine)

    assert readings(engine) == []


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({**reading(1, T0), "sn": "HWTC00000001"}, "onu_signal_readings has no column.s. sn"),
        (reading(1, datetime(2024, 6, 9, 22, 41)), "naive datetime 2024-06-09T22:41:00"),
    ],
)
def test_append_rows_refuses_a_bad_row_before_writing(
    engine: sa.Engine, row: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message), engine.begin() as conn:
        append_rows(conn, onu_signal_readings, [reading(2, T0), row])

    assert readings(engine) == []


def test_append_rows_in_bulk(engine: sa.Engine) -> None:
    rows = [reading(number, T0 + timedelta(seconds=number)) for number in range(5000)]

    with engine.begin() as conn:
        assert append_rows(conn, onu_signal_readings, rows) == 5000

    total = sa.select(sa.func.count(), sa.func.sum(onu_signal_readings.c.signal_1490)).select_from(
        onu_signal_readings
    )
    latest = sa.select(onu_signal_readings.c.read_at).order_by(
        onu_signal_readings.c.read_at.desc()
    )
    with engine.connect() as conn:
        count, signal_sum = conn.execute(total).one()
        newest = conn.execute(latest.limit(1)).scalar_one()
    assert (count, Decimal(signal_sum).quantize(Decimal("0.01"))) == (5000, Decimal("-124975.00"))
    assert newest == T0 + timedelta(seconds=4999)
