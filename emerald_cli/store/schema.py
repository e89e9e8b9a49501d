"""The tables: routers, what was read from each router, and the history of sync runs.

Router attributes are TEXT and hold exactly what the router sent ("00123", "true", "1w2d");
reading them as numbers or flags is the reader's job. There is no password column, ever.
"""

from __future__ import annotations

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

# Columns every snapshot table carries besides the router's values.
BOOKKEEPING_COLUMNS = ("id", "first_seen_at", "last_seen_at", "removed_at")


def _seen_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("first_seen_at", UtcDateTime(), nullable=False),
        sa.Column("last_seen_at", UtcDateTime(), nullable=False),
        sa.Column("removed_at", UtcDateTime()),
    ]


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
    # TODO(#2): node_id is indexed, not unique: a renamed ISPCube node gets a new row by name
    # and its old row stays until something marks it removed.
    sa.Column("node_id", sa.Integer, index=True),
    *_seen_columns(),
)


def _router_table(
    name: str, key: tuple[str, ...], values: tuple[str, ...], **defaults: str
) -> sa.Table:
    """A snapshot table: one router's rows, unique on router_id plus the natural key."""
    attribute_columns = [
        sa.Column(
            column,
            sa.Text,
            nullable=column not in key,
            default=defaults.get(column),
            server_default=defaults.get(column),
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
        *_seen_columns(),
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

# Natural key of each snapshot table, router_id first; the unique constraint says the same.
NATURAL_KEYS: dict[str, tuple[str, ...]] = {
    "ppp_secrets": ("router_id", "name"),
    "ppp_active": ("router_id", "name", "session_id"),
    "ppp_profiles": ("router_id", "name"),
    "queues": ("router_id", "name"),
}

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
