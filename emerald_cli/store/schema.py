"""The tables: routers and what was read from each, the ISPCube and SmartOLT streams, runs.

Router attributes are TEXT and hold exactly what the router sent ("00123", "true", "1w2d");
reading them as numbers or flags is the reader's job. There is no password column, ever.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from emerald_cli.store.timestamps import UtcDateTime

# Stable constraint names, so a later migration can name what it alters.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

# Columns every snapshot table carries besides the values it was sent.
BOOKKEEPING_COLUMNS = ("id", "first_seen_at", "last_seen_at", "removed_at", "content_hash")

# Column.info keys: COMPARED False for a value written with its row that never makes the row
# changed; COMPUTED True for a router table's column worked out from its attributes.
COMPARED = "compared"
COMPUTED = "computed"


def _seen_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("first_seen_at", UtcDateTime(), nullable=False),
        sa.Column("last_seen_at", UtcDateTime(), nullable=False),
        sa.Column("removed_at", UtcDateTime()),
    ]


def _snapshot_columns() -> list[sa.Column[object]]:
    """When a row was seen, and a 64-bit hash of its values as last written.

    A sync compares one number per row with what it was sent, instead of reading back every
    column (raw records included) to compare them; NULL on rows written before the hash was
    kept, which are compared column by column once and then get theirs. Anything that changes
    stored values other than write_snapshot() (a data migration, say) must set it to NULL.
    """
    return [*_seen_columns(), sa.Column("content_hash", sa.BigInteger)]


routers = sa.Table(
    "routers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.Text, nullable=False, unique=True),
    sa.Column("host", sa.Text, nullable=False),
    sa.Column("port", sa.Integer, nullable=False),
    sa.Column("identity", sa.Text),
    sa.Column("version", sa.Text),
    sa.Column("board", sa.Text),
    sa.Column("uptime", sa.Text),
    sa.Column("last_polled_at", UtcDateTime()),
    sa.Column("source", sa.Text, nullable=False, server_default="inventory"),
    # A router an ISPCube node names is known by the node's id, so a renamed node renames its
    # row; NULL for the inventory's routers.
    sa.Column("node_id", sa.Integer, index=True, unique=True),
    *_seen_columns(),
)


def _router_table(
    name: str,
    key: tuple[str, ...],
    values: tuple[str, ...],
    *computed: sa.Column[Any],
    uncompared: tuple[str, ...] = (),
    **defaults: str,
) -> sa.Table:
    """A snapshot table: one router's rows, unique on router_id plus the natural key.

    Attribute columns hold text as sent; `computed` columns are worked out from them.
    `uncompared` columns are written with their row but never make it count as changed.
    """
    attribute_columns = [
        sa.Column(
            column,
            sa.Text,
            nullable=column not in key,
            default=defaults.get(column),
            server_default=defaults.get(column),
            info={COMPARED: False} if column in uncompared else {},
        )
        for column in (*key, *values)
    ]
    return sa.Table(
        name,
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "router_id",
            sa.Integer,
            sa.ForeignKey("routers.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        *attribute_columns,
        *computed,
        *_snapshot_columns(),
        sa.UniqueConstraint("router_id", *key),
    )


ppp_secrets = _router_table(
    "ppp_secrets",
    ("name",),
    (
        "service",
        "caller_id",
        "profile",
        "local_address",
        "remote_address",
        "routes",
        "limit_bytes_in",
        "limit_bytes_out",
        "last_logged_out",
        "last_caller_id",
        "last_disconnect_reason",
        "disabled",
        "comment",
        "ros_id",
        "extra",
    ),
)

ppp_active = _router_table(
    "ppp_active",
    ("name", "session_id"),
    (
        "service",
        "caller_id",
        "address",
        "uptime",
        "encoding",
        "limit_bytes_in",
        "limit_bytes_out",
        "radius",
        "comment",
        "ros_id",
        "extra",
    ),
    # When the session began: the time it was read less its uptime.
    sa.Column("connected_at", UtcDateTime(), info={COMPARED: False, COMPUTED: True}),
    # A session's uptime grows every second: it would make every session look changed on
    # every run. It is kept as it was when the row was last written, with connected_at.
    uncompared=("uptime",),
    session_id="",
)

ppp_profiles = _router_table(
    "ppp_profiles",
    ("name",),
    (
        "local_address",
        "remote_address",
        "rate_limit",
        "only_one",
        "address_list",
        "dns_server",
        "session_timeout",
        "idle_timeout",
        "parent_queue",
        "is_default",
        "comment",
        "ros_id",
        "extra",
    ),
)

queues = _router_table(
    "queues",
    ("name",),
    (
        "target",
        "parent",
        "priority",
        "queue",
        "limit_at",
        "max_limit",
        "burst_limit",
        "burst_threshold",
        "burst_time",
        "disabled",
        "dynamic",
        "invalid",
        "comment",
        "ros_id",
        "extra",
    ),
)

# The tables of what is read from each router.
ROUTER_TABLES = (ppp_secrets, ppp_active, ppp_profiles, queues)

sync_runs = sa.Table(
    "sync_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("source", sa.Text, nullable=False, index=True),
    sa.Column("trigger", sa.Text, nullable=False),
    sa.Column("started_at", UtcDateTime(), nullable=False),
    sa.Column("finished_at", UtcDateTime()),
    sa.Column("heartbeat_at", UtcDateTime()),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("inserted", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("updated", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("unchanged", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("removed", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("error", sa.Text),
    sa.Column("dry_run", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("host", sa.Text),
    sa.Column("pid", sa.Integer),
)

sync_targets = sa.Table(
    "sync_targets",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "run_id",
        sa.Integer,
        sa.ForeignKey("sync_runs.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("duration_s", sa.Float, nullable=False, server_default=sa.text("0")),
    sa.Column("inserted", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("updated", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("unchanged", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("removed", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("error", sa.Text),
    sa.Column("detail", sa.Text),
    sa.Column("retry_after", UtcDateTime()),
)

# No foreign key to sync_runs: a lock must outlive the pruning of old run history.
sync_locks = sa.Table(
    "sync_locks",
    metadata,
    sa.Column("source", sa.Text, primary_key=True),
    sa.Column("run_id", sa.Integer, nullable=False),
    sa.Column("owner", sa.Text, nullable=False),
    sa.Column("acquired_at", UtcDateTime(), nullable=False),
    sa.Column("heartbeat_at", UtcDateTime(), nullable=False),
)


# The ISPCube and SmartOLT streams. Unlike router attributes these columns are typed: the
# normalisers already turned the APIs' text into ints, Decimals, flags and aware times, and
# `raw` keeps the record as the API sent it (canonical JSON) for whatever they left out.


def _saas_table(name: str, key: tuple[str, ...], *columns: sa.Column[Any]) -> sa.Table:
    """A snapshot of one API stream: the whole stream is one scope, unique on `key`."""
    return sa.Table(
        name,
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        *columns,
        sa.Column("raw", sa.Text),
        *_snapshot_columns(),
        sa.UniqueConstraint(*key),
    )


def _coordinate(name: str) -> sa.Column[Any]:
    return sa.Column(name, sa.Numeric(16, 12))


def _money(name: str) -> sa.Column[Any]:
    return sa.Column(name, sa.Numeric(14, 2))


def _level(name: str) -> sa.Column[Any]:
    """An optical level in dBm; NULL means not measured, never 0."""
    return sa.Column(name, sa.Numeric(7, 2))


def _texts(*names: str) -> list[sa.Column[Any]]:
    return [sa.Column(name, sa.Text) for name in names]


plans = _saas_table(
    "plans",
    ("plan_id",),
    sa.Column("plan_id", sa.Integer, nullable=False),
    # Plan speed stays text as sent: ISPCube documents neither its unit nor its format.
    *_texts("name", "speed", "comment"),
)

# Every node ISPCube lists, whether or not it names a router that can be polled.
nodes = _saas_table(
    "nodes",
    ("node_id",),
    sa.Column("node_id", sa.Integer, nullable=False),
    *_texts("name", "ip"),
    sa.Column("port", sa.Integer),
    sa.Column("port_defaulted", sa.Boolean),
)

customers = _saas_table(
    "customers",
    ("customer_id",),
    sa.Column("customer_id", sa.Integer, nullable=False),
    *_texts("code", "name", "status", "doc_number", "address", "tax_residence"),
    sa.Column("city_id", sa.Integer),
    sa.Column("city_name", sa.Text),
    _coordinate("lat"),
    _coordinate("lng"),
    _money("debt"),
    _money("duedebt"),
    *(sa.Column(name, sa.Boolean) for name in ("block", "free", "speed_limited", "temporary")),
    # ISPCube's free-text fields, whatever each ISP uses them for.
    *_texts("extra1", "extra2"),
    *(
        sa.Column(name, UtcDateTime())
        for name in ("start_date", "created_at", "updated_at", "deleted_at")
    ),
)

customer_emails = _saas_table(
    "customer_emails",
    ("customer_id", "email"),
    sa.Column("customer_id", sa.Integer, nullable=False),
    sa.Column("email", sa.Text, nullable=False),
)

customer_phones = _saas_table(
    "customer_phones",
    ("customer_id", "number"),
    sa.Column("customer_id", sa.Integer, nullable=False),
    sa.Column("number", sa.Text, nullable=False),
)

# pppoe_user is ISPCube's `user`: the secret name a router should hold, hence the index; a
# customer's connections are looked up by customer_id.
connections = _saas_table(
    "connections",
    ("connection_id",),
    sa.Column("connection_id", sa.Integer, nullable=False),
    sa.Column("customer_id", sa.Integer, index=True),
    sa.Column("pppoe_user", sa.Text, index=True),
    sa.Column("node_id", sa.Integer),
    sa.Column("plan_id", sa.Integer),
    *_texts("address", "conntype"),
)

olts = _saas_table(
    "olts",
    ("olt_id",),
    sa.Column("olt_id", sa.Integer, nullable=False),
    *_texts("name", "hardware_version", "ip"),
    sa.Column("telnet_port", sa.Integer),
    sa.Column("snmp_port", sa.Integer),
)

# An ONU is known by its PON position: SmartOLT's unique_external_id repeats across OLTs.
onus = _saas_table(
    "onus",
    ("olt_id", "board", "port", "onu"),
    *(sa.Column(name, sa.Integer, nullable=False) for name in ("olt_id", "board", "port", "onu")),
    sa.Column("unique_external_id", sa.Text, index=True),
    sa.Column("sn", sa.Text, index=True),
    sa.Column("olt_name", sa.Text),
    sa.Column("onu_type_id", sa.Integer),
    sa.Column("onu_type_name", sa.Text),
    sa.Column("zone_id", sa.Integer),
    sa.Column("zone_name", sa.Text),
    sa.Column("name", sa.Text, index=True),
    *_texts("address", "contact"),
    _coordinate("latitude"),
    _coordinate("longitude"),
    *_texts("odb_name", "odb_port", "mode", "wan_mode"),
    sa.Column("vlan", sa.Integer),
    sa.Column("username", sa.Text, index=True),
    *_texts("catv", "administrative_status"),
    sa.Column("authorization_date", UtcDateTime()),
    sa.Column("status", sa.Text),
    sa.Column("last_status_change", UtcDateTime()),
    sa.Column("signal", sa.Text),
    _level("signal_1310"),
    _level("signal_1490"),
    # A JSON list of the ONU's service ports, e.g. [{"service_port": 101, "vlan": 100, ...}].
    sa.Column("service_ports", sa.Text),
)

# Statuses and signals are keyed like the ONUs they describe, by PON position; the external
# id is kept for lookups but may name more than one ONU.
onu_statuses = _saas_table(
    "onu_statuses",
    ("olt_id", "board", "port", "onu"),
    *(sa.Column(name, sa.Integer, nullable=False) for name in ("olt_id", "board", "port", "onu")),
    sa.Column("unique_external_id", sa.Text),
    sa.Column("sn", sa.Text),
    *_texts("name", "status"),
    sa.Column("last_status_change", UtcDateTime()),
)

onu_signals = _saas_table(
    "onu_signals",
    ("olt_id", "board", "port", "onu"),
    *(sa.Column(name, sa.Integer, nullable=False) for name in ("olt_id", "board", "port", "onu")),
    sa.Column("unique_external_id", sa.Text),
    *_texts("sn", "signal"),
    _level("signal_1310"),
    _level("signal_1490"),
)

# Append-only: every reading is kept, so a snapshot's first/last seen make no sense here.
# Readings taken before emerald keyed signals by position may have no position: NULL.
onu_signal_readings = sa.Table(
    "onu_signal_readings",
    metadata,
    # Thousands of ONUs read every few minutes pass 2**31 readings within a year. SQLite's
    # INTEGER PRIMARY KEY is 64-bit already (and only that spelling numbers rows itself).
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    *(sa.Column(name, sa.Integer) for name in ("olt_id", "board", "port", "onu")),
    sa.Column("unique_external_id", sa.Text),
    sa.Column("read_at", UtcDateTime(), nullable=False),
    sa.Column("signal", sa.Text),
    _level("signal_1310"),
    _level("signal_1490"),
    # Pruning old runs must not take their readings with them.
    sa.Column("run_id", sa.Integer, sa.ForeignKey("sync_runs.id", ondelete="SET NULL")),
    sa.Index(None, "unique_external_id", "read_at"),
    sa.Index(None, "olt_id", "board", "port", "onu", "read_at"),
)

# Natural key of each snapshot table; the unique constraint says the same. A router table's
# key starts with router_id, its scope; a SaaS table's scope is {} (the whole stream).
NATURAL_KEYS: dict[str, tuple[str, ...]] = {
    "ppp_secrets": ("router_id", "name"),
    "ppp_active": ("router_id", "name", "session_id"),
    "ppp_profiles": ("router_id", "name"),
    "queues": ("router_id", "name"),
    "plans": ("plan_id",),
    "nodes": ("node_id",),
    "customers": ("customer_id",),
    "customer_emails": ("customer_id", "email"),
    "customer_phones": ("customer_id", "number"),
    "connections": ("connection_id",),
    "olts": ("olt_id",),
    "onus": ("olt_id", "board", "port", "onu"),
    "onu_statuses": ("olt_id", "board", "port", "onu"),
    "onu_signals": ("olt_id", "board", "port", "onu"),
}

# The SaaS snapshot tables; onu_signal_readings is history, written by append_rows().
SAAS_TABLES = (
    plans,
    nodes,
    customers,
    customer_emails,
    customer_phones,
    connections,
    olts,
    onus,
    onu_statuses,
    onu_signals,
)
