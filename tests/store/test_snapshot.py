"""write_snapshot: change detection and what ends up stored, on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from emerald_cli.store.schema import ppp_active, ppp_profiles, ppp_secrets, routers
from emerald_cli.store.snapshot import ChangeCounts, DeferredRow, upsert_router, write_snapshot

T0 = datetime(2024, 12, 3, 10, 0, 0, 123456, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)
T2 = T0 + timedelta(minutes=10)
T3 = T0 + timedelta(minutes=15)

KEY = ("router_id", "name")


def add_router(engine: sa.Engine, name: str = "core-1") -> int:
    with engine.begin() as conn:
        return upsert_router(conn, name=name, host="10.0.0.1", port=8728, now=T0)


def write(
    engine: sa.Engine,
    router_id: int,
    rows: list[dict[str, Any]],
    now: datetime,
    *,
    dry_run: bool = False,
    table: sa.Table = ppp_secrets,
    key: tuple[str, ...] = KEY,
) -> ChangeCounts:
    with engine.begin() as conn:
        return write_snapshot(conn, table, {"router_id": router_id}, key, rows, now, dry_run)


def stored(
    engine: sa.Engine, router_id: int, table: sa.Table = ppp_secrets
) -> dict[str, dict[str, Any]]:
    """The router's rows by name, without the surrogate ids."""
    query = sa.select(table).where(table.c.router_id == router_id)
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return {row["name"]: {k: v for k, v in row.items() if k not in ("id",)} for row in rows}


def test_first_snapshot_inserts_every_row(engine: sa.Engine) -> None:
    router_id = add_router(engine)

    counts = write(
        engine,
        router_id,
        [
            {"name": "pp-0001", "profile": "FIBRA-50", "disabled": "false"},
            {"name": "pp-0002", "profile": "FIBRA-100", "disabled": "true"},
        ],
        T0,
    )

    assert counts == ChangeCounts(inserted=2)
    rows = stored(engine, router_id)
    assert sorted(rows) == ["pp-0001", "pp-0002"]
    assert rows["pp-0001"]["profile"] == "FIBRA-50"
    assert rows["pp-0001"]["disabled"] == "false"
    assert rows["pp-0001"]["comment"] is None
    assert rows["pp-0001"]["first_seen_at"] == T0
    assert rows["pp-0001"]["last_seen_at"] == T0
    assert rows["pp-0001"]["removed_at"] is None


def test_values_are_stored_exactly_as_sent(engine: sa.Engine) -> None:
    router_id = add_router(engine)
    sent = {
        "name": "00123",
        "comment": "Peña 北京 ✓",
        "disabled": "true",
        "last_logged_out": "1w2d",
        "caller_id": "",
        "limit_bytes_in": "0010045",
        "ros_id": "*80000001",
        "extra": '{"ipv6-routes":""}',
    }

    write(engine, router_id, [sent], T0)

    row = stored(engine, router_id)["00123"]
    assert {column: row[column] for column in sent} == sent


def test_second_snapshot_counts_each_kind_of_change(engine: sa.Engine) -> None:
    router_id = add_router(engine)
    write(
        engine,
        router_id,
        [
            {"name": "a", "profile": "P1"},
            {"name": "b", "profile": "P1"},
            {"name": "c", "profile": "P1"},
            {"name": "d", "profile": "P1", "comment": "note"},
        ],
        T0,
    )

    counts = write(
        engine,
        router_id,
        [
            {"name": "a", "profile": "P1"},
            {"name": "b", "profile": "P2"},
            {"name": "d", "profile": "P1", "comment": "note"},
            {"name": "e", "profile": "P1"},
        ],
        T1,
    )

    assert counts == ChangeCounts(inserted=1, updated=1, unchanged=2, removed=1)
    rows = stored(engine, router_id)
    assert (rows["a"]["first_seen_at"], rows["a"]["last_seen_at"]) == (T0, T1)
    assert (rows["b"]["profile"], rows["b"]["last_seen_at"]) == ("P2", T1)
    assert (rows["c"]["removed_at"], rows["c"]["last_seen_at"]) == (T1, T0)
    assert (rows["d"]["removed_at"], rows["d"]["last_seen_at"]) == (None, T1)
    assert (rows["e"]["first_seen_at"], rows["e"]["last_seen_at"]) == (T1, T1)


def test_removed_row_is_counted_once_and_counted_again_when_it_comes_back(
    engine: sa.Engine,
) -> None:
    router_id = add_router(engine)
    write(engine, router_id, [{"name": "a"}, {"name": "b", "profile": "P1"}], T0)
    assert write(engine, router_id, [{"name": "a"}], T1) == ChangeCounts(unchanged=1, removed=1)

    assert write(engine, router_id, [{"name": "a"}], T2) == ChangeCounts(unchanged=1)
    assert stored(engine, router_id)["b"]["removed_at"] == T1

    back = write(engine, router_id, [{"name": "a"}, {"name": "b", "profile": "P1"}], T3)

    assert back == ChangeCounts(updated=1, unchanged=1)
    row = stored(engine, router_id)["b"]
    assert (row["first_seen_at"], row["last_seen_at"], row["removed_at"]) == (T0, T3, None)


def test_a_value_the_router_no_longer_sends_becomes_null(engine: sa.Engine) -> None:
    router_id = add_router(engine)
    write(engine, router_id, [{"name": "a", "comment": "old", "profile": "P1"}], T0)

    counts = write(engine, router_id, [{"name": "a", "profile": "P1"}], T1)

    assert counts == ChangeCounts(updated=1)
    assert stored(engine, router_id)["a"]["comment"] is None


def test_other_routers_and_tables_are_untouched(engine: sa.Engine) -> None:
    first = add_router(engine, "core-1")
    second = add_router(engine, "core-2")
    write(engine, first, [{"name": "a"}, {"name": "b"}], T0)
    write(engine, second, [{"name": "a"}, {"name": "c"}], T0)
    write(engine, first, [{"name": "FIBRA-50"}], T0, table=ppp_profiles)
    before_first = stored(engine, first)

    counts = write(engine, second, [], T1)

    assert counts == ChangeCounts(removed=2)
    assert stored(engine, first) == before_first
    assert stored(engine, first, ppp_profiles)["FIBRA-50"]["last_seen_at"] == T0
    assert {row["removed_at"] for row in stored(engine, second).values()} == {T1}


def test_dry_run_counts_the_same_and_writes_nothing(engine: sa.Engine) -> None:
    router_id = add_router(engine)
    write(engine, router_id, [{"name": "a"}, {"name": "b"}, {"name": "c", "profile": "P1"}], T0)
    before = stored(engine, router_id)
    snapshot = [{"name": "a"}, {"name": "c", "profile": "P2"}, {"name": "d"}]

    dry = write(engine, router_id, snapshot, T1, dry_run=True)

    assert dry == ChangeCounts(inserted=1, updated=1, unchanged=1, removed=1)
    assert stored(engine, router_id) == before
    assert write(engine, router_id, snapshot, T1) == dry


def test_failure_later_in_the_callers_transaction_keeps_nothing(engine: sa.Engine) -> None:
    router_id = add_router(engine)
    write(engine, router_id, [{"name": "a", "profile": "P1"}], T0)
    before = stored(engine, router_id)

    def store_then_fail() -> None:
        with engine.begin() as conn:
            new_router = upsert_router(conn, name="core-9", host="10.0.0.9", port=8728, now=T1)
            write_snapshot(conn, ppp_secrets, {"router_id": new_router}, KEY, [{"name": "x"}], T1)
            changed = [{"name": "a", "profile": "P2"}]
            write_snapshot(conn, ppp_secrets, {"router_id": router_id}, KEY, changed, T1)
            raise RuntimeError("poll of the next table failed")

    with pytest.raises(RuntimeError, match="poll of the next table failed"):
        store_then_fail()

    assert stored(engine, router_id) == before
    with engine.connect() as conn:
        names = conn.execute(sa.select(routers.c.name)).scalars().all()
    assert names == ["core-1"]


def test_a_bad_row_is_refused_before_anything_is_written(engine: sa.Engine) -> None:
    router_id = add_router(engine)
    write(engine, router_id, [{"name": "a", "profile": "P1"}], T0)
    before = stored(engine, router_id)
    rows = [{"name": "a", "profile": "P2"}, {"name": "b", "password": "s3cr3t-value"}]

    refusing = pytest.raises(ValueError, match="ppp_secrets has no column")
    with engine.begin() as conn, refusing as refused:
        write_snapshot(conn, ppp_secrets, {"router_id": router_id}, KEY, rows, T1)

    assert "password" in str(refused.value)
    assert "s3cr3t-value" not in str(refused.value)
    assert stored(engine, router_id) == before


def test_a_value_that_is_not_text_is_refused(engine: sa.Engine) -> None:
    router_id = add_router(engine)

    with pytest.raises(TypeError, match=r"ppp_secrets\.limit_bytes_in is text and got a int"):
        write(engine, router_id, [{"name": "a", "limit_bytes_in": 10045}], T0)


def test_duplicate_keys_keep_the_later_row_and_warn(
    engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    router_id = add_router(engine)
    rows = [{"name": "a", "profile": "P1"}, {"name": "b"}, {"name": "a", "profile": "P2"}]

    with caplog.at_level(logging.INFO, logger="emerald_cli.store.snapshot"):
        counts = write(engine, router_id, rows, T0)

    assert counts == ChangeCounts(inserted=2)
    assert stored(engine, router_id)["a"]["profile"] == "P2"
    assert [record.getMessage() for record in caplog.records] == [
        f"table=ppp_secrets scope={{'router_id': {router_id}}} duplicate key {{'name': 'a'}} "
        "in the snapshot: the later row wins"
    ]


def test_extra_as_a_dict_is_stored_as_canonical_json(engine: sa.Engine) -> None:
    router_id = add_router(engine)
    write(engine, router_id, [{"name": "a", "extra": {"wins-server": "", "bridge": "br1"}}], T0)

    again = write(
        engine, router_id, [{"name": "a", "extra": {"bridge": "br1", "wins-server": ""}}], T1
    )

    assert again == ChangeCounts(unchanged=1)
    assert stored(engine, router_id)["a"]["extra"] == '{"bridge":"br1","wins-server":""}'


def test_a_password_inside_extra_is_refused(engine: sa.Engine) -> None:
    router_id = add_router(engine)

    with pytest.raises(ValueError, match="secrets are never stored") as refused:
        write(engine, router_id, [{"name": "a", "extra": {"password": "hunter2"}}], T0)

    assert "hunter2" not in str(refused.value)


def test_session_without_session_id_is_keyed_on_the_empty_string(engine: sa.Engine) -> None:
    router_id = add_router(engine)
    key = ("router_id", "name", "session_id")
    sessions = [
        {"name": "pp-0001", "session_id": None, "address": "100.64.0.1"},
        {"name": "pp-0001", "session_id": "0x81000001", "address": "100.64.0.2"},
    ]

    first = write(engine, router_id, sessions, T0, table=ppp_active, key=key)
    second = write(engine, router_id, sessions, T1, table=ppp_active, key=key)

    assert (first, second) == (ChangeCounts(inserted=2), ChangeCounts(unchanged=2))
    with engine.connect() as conn:
        query = sa.select(ppp_active.c.session_id, ppp_active.c.address).order_by("session_id")
        assert conn.execute(query).all() == [("", "100.64.0.1"), ("0x81000001", "100.64.0.2")]


def test_a_row_outside_the_scope_is_refused(engine: sa.Engine) -> None:
    router_id = add_router(engine)

    with pytest.raises(ValueError, match="outside the scope"):
        write(engine, router_id, [{"router_id": router_id + 1, "name": "a"}], T0)


def test_rows_may_repeat_the_scope_value(engine: sa.Engine) -> None:
    router_id = add_router(engine)

    counts = write(engine, router_id, [{"router_id": router_id, "name": "a"}], T0)

    assert counts == ChangeCounts(inserted=1)


def test_a_naive_time_is_refused(engine: sa.Engine) -> None:
    router_id = add_router(engine)

    with pytest.raises(ValueError, match="naive datetime"):
        write(engine, router_id, [{"name": "a"}], datetime(2024, 12, 3, 10, 0))


def test_removals_are_chunked_under_the_limit_read_from_the_database(
    engine: sa.Engine,
) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("only SQLite lets a connection lower its parameter limit")
    router_id = add_router(engine)
    write(engine, router_id, [{"name": f"s{n:02d}"} for n in range(30)], T0)

    with engine.begin() as conn:
        raw = conn.connection.dbapi_connection
        assert isinstance(raw, sqlite3.Connection)
        original = raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 10)
        try:
            counts = write_snapshot(
                conn, ppp_secrets, {"router_id": router_id}, KEY, [{"name": "s00"}], T1
            )
        finally:
            raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, original)

    assert counts == ChangeCounts(unchanged=1, removed=29)
    removed = [name for name, row in stored(engine, router_id).items() if row["removed_at"] == T1]
    assert sorted(removed) == [f"s{n:02d}" for n in range(1, 30)]


def forget_hashes(engine: sa.Engine, table: sa.Table = ppp_secrets) -> None:
    """Make the stored rows look as rows written before content hashes were kept."""
    with engine.begin() as conn:
        conn.execute(table.update().values(content_hash=None))


def hashes(engine: sa.Engine, router_id: int) -> dict[str, int | None]:
    return {name: row["content_hash"] for name, row in stored(engine, router_id).items()}


def test_rows_stored_without_a_hash_are_compared_by_value_once(engine: sa.Engine) -> None:
    router_id = add_router(engine)
    write(engine, router_id, [{"name": "a", "profile": "P1"}, {"name": "b", "profile": "P1"}], T0)
    written = hashes(engine, router_id)
    forget_hashes(engine)
    rows = [{"name": "a", "profile": "P1"}, {"name": "b", "profile": "P2"}]

    upgraded = write(engine, router_id, rows, T1)
    hashed = hashes(engine, router_id)
    again = write(engine, router_id, rows, T2)

    assert upgraded == ChangeCounts(updated=1, unchanged=1)
    assert again == ChangeCounts(unchanged=2)
    assert hashed["a"] == written["a"]
    assert None not in hashed.values()
    assert hashed["b"] != written["b"]
    assert hashes(engine, router_id) == hashed
    assert stored(engine, router_id)["b"]["profile"] == "P2"


def test_a_dry_run_leaves_missing_hashes_missing(engine: sa.Engine) -> None:
    router_id = add_router(engine)
    write(engine, router_id, [{"name": "a", "profile": "P1"}], T0)
    forget_hashes(engine)

    counts = write(engine, router_id, [{"name": "a", "profile": "P1"}], T1, dry_run=True)

    assert counts == ChangeCounts(unchanged=1)
    assert hashes(engine, router_id) == {"a": None}


def test_a_row_that_comes_back_unchanged_gets_a_fresh_hash_and_seen_time(
    engine: sa.Engine,
) -> None:
    router_id = add_router(engine)
    write(engine, router_id, [{"name": "a", "profile": "P1"}], T0)
    written = hashes(engine, router_id)
    write(engine, router_id, [], T1)

    back = write(engine, router_id, [{"name": "a", "profile": "P1"}], T2)

    assert back == ChangeCounts(updated=1)
    row = stored(engine, router_id)["a"]
    assert (row["removed_at"], row["last_seen_at"], row["content_hash"]) == (
        None,
        T2,
        written["a"],
    )


def test_stored_values_are_read_in_chunks_under_the_parameter_limit(engine: sa.Engine) -> None:
    """50 rows to look at, 20 parameters a statement (an update of one row takes 19)."""
    if engine.dialect.name != "sqlite":
        pytest.skip("only SQLite lets a connection lower its parameter limit")
    router_id = add_router(engine)
    rows = [{"name": f"s{n:02d}", "profile": "P1"} for n in range(50)]
    write(engine, router_id, rows, T0)
    forget_hashes(engine)
    rows[7] = {"name": "s07", "profile": "P2"}

    with engine.begin() as conn:
        raw = conn.connection.dbapi_connection
        assert isinstance(raw, sqlite3.Connection)
        original = raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 20)
        try:
            counts = write_snapshot(conn, ppp_secrets, {"router_id": router_id}, KEY, rows, T1)
        finally:
            raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, original)

    assert counts == ChangeCounts(updated=1, unchanged=49)
    assert None not in hashes(engine, router_id).values()


class Source:
    """Deferred ppp_secrets rows from records {name: profile}, counting the rows built."""

    def __init__(self) -> None:
        self.built: list[str] = []

    def rows(self, records: dict[str, str], hashes: dict[str, int]) -> list[DeferredRow]:
        return [
            DeferredRow((name,), hashes[name], self._builder(name, profile))
            for name, profile in records.items()
        ]

    def _builder(self, name: str, profile: str) -> Any:
        def build() -> dict[str, Any]:
            self.built.append(name)
            return {"name": name, "profile": profile}

        return build


def test_deferred_rows_are_built_only_where_the_stored_hash_differs(engine: sa.Engine) -> None:
    router_id = add_router(engine)
    source = Source()
    write(
        engine,
        router_id,
        source.rows({"a": "P1", "b": "P1", "c": "P1"}, {"a": 1, "b": 2, "c": 3}),
        T0,
    )
    source.built.clear()

    # a as it was; b sent again under a new hash but the same values; c changed.
    counts = write(
        engine,
        router_id,
        source.rows({"a": "P1", "b": "P1", "c": "P2"}, {"a": 1, "b": 20, "c": 30}),
        T1,
    )

    assert counts == ChangeCounts(updated=1, unchanged=2)
    assert sorted(source.built) == ["b", "c"]
    assert hashes(engine, router_id) == {"a": 1, "b": 20, "c": 30}
    assert {name: row["profile"] for name, row in stored(engine, router_id).items()} == {
        "a": "P1",
        "b": "P1",
        "c": "P2",
    }
    assert {row["last_seen_at"] for row in stored(engine, router_id).values()} == {T1}


def test_deferred_and_plain_rows_store_the_same_values(engine: sa.Engine) -> None:
    plain, deferred = add_router(engine, "plain"), add_router(engine, "deferred")

    write(engine, plain, [{"name": "a", "profile": "P1"}], T0)
    write(engine, deferred, Source().rows({"a": "P1"}, {"a": 7}), T0)

    def values(router_id: int) -> dict[str, Any]:
        row = stored(engine, router_id)["a"]
        return {k: v for k, v in row.items() if k not in ("router_id", "content_hash")}

    assert values(plain) == values(deferred)


def test_a_deferred_row_that_builds_another_key_is_refused(engine: sa.Engine) -> None:
    router_id = add_router(engine)
    wrong = DeferredRow(("a",), 1, lambda: {"name": "b"})

    with pytest.raises(ValueError, match=r"ppp_secrets row built with key .*'b'.*announced as"):
        write(engine, router_id, [wrong], T0)

    assert stored(engine, router_id) == {}


def test_times_are_stored_in_one_text_form_on_sqlite(engine: sa.Engine) -> None:
    """SQLite compares times as text: a row inserted in bulk and one updated through
    SQLAlchemy must write the same form, or equal times compare unequal."""
    if engine.dialect.name != "sqlite":
        pytest.skip("only SQLite stores times as text")
    on_the_second = T0.replace(microsecond=0)
    router_id = add_router(engine)
    write(engine, router_id, [{"name": "a"}, {"name": "b"}], on_the_second)
    write(engine, router_id, [{"name": "a"}, {"name": "b", "profile": "P2"}], on_the_second)

    with engine.connect() as conn:
        raw = conn.exec_driver_sql(
            "SELECT name, first_seen_at, last_seen_at FROM ppp_secrets ORDER BY name"
        ).all()

    assert raw == [
        ("a", "2024-12-03 10:00:00.000000", "2024-12-03 10:00:00.000000"),
        ("b", "2024-12-03 10:00:00.000000", "2024-12-03 10:00:00.000000"),
    ]


ACTIVE_KEY = ("router_id", "name", "session_id")


def session(uptime: str, began: datetime | None, address: str = "10.0.0.2") -> dict[str, Any]:
    return {
        "name": "pp-1",
        "session_id": "0x1",
        "address": address,
        "uptime": uptime,
        "connected_at": began,
    }


def test_columns_that_are_not_compared_change_nothing_and_keep_their_value(
    engine: sa.Engine,
) -> None:
    router_id = add_router(engine)
    write(engine, router_id, [session("1h", T0)], T0, table=ppp_active, key=ACTIVE_KEY)

    older = write(
        engine,
        router_id,
        [session("1h5m", T0 + timedelta(seconds=1))],
        T1,
        table=ppp_active,
        key=ACTIVE_KEY,
    )
    kept = stored(engine, router_id, ppp_active)["pp-1"]
    moved = write(
        engine,
        router_id,
        [session("1h10m", T0, address="10.0.0.3")],
        T2,
        table=ppp_active,
        key=ACTIVE_KEY,
    )
    rewritten = stored(engine, router_id, ppp_active)["pp-1"]

    assert older == ChangeCounts(unchanged=1)
    assert (kept["uptime"], kept["connected_at"], kept["last_seen_at"]) == ("1h", T0, T1)
    assert moved == ChangeCounts(updated=1)
    assert (rewritten["uptime"], rewritten["address"]) == ("1h10m", "10.0.0.3")


def test_a_row_compared_by_value_gets_its_uncompared_columns_written(engine: sa.Engine) -> None:
    """Sessions stored before connected_at existed get it on the first sync that reads them."""
    router_id = add_router(engine)
    write(engine, router_id, [session("1h", None)], T0, table=ppp_active, key=ACTIVE_KEY)
    forget_hashes(engine, ppp_active)

    counts = write(engine, router_id, [session("1h5m", T0)], T1, table=ppp_active, key=ACTIVE_KEY)

    row = stored(engine, router_id, ppp_active)["pp-1"]
    assert counts == ChangeCounts(unchanged=1)
    assert (row["uptime"], row["connected_at"]) == ("1h5m", T0)
    assert row["content_hash"] is not None
