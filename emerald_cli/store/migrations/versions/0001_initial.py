"""Routers, their PPP secrets, sessions, profiles and simple queues, and the run history.

Revision ID: 0001
Revises:
Create Date: 2024-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp(name: str, *, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _seen_columns() -> list[sa.Column[object]]:
    return [
        _timestamp("first_seen_at", nullable=False),
        _timestamp("last_seen_at", nullable=False),
        _timestamp("removed_at"),
    ]


def _counts() -> list[sa.Column[object]]:
    return [
        sa.Column(name, sa.Integer, nullable=False, server_default=sa.text("0"))
        for name in ("inserted", "updated", "unchanged", "removed")
    ]


def _create_router_table(
    name: str, key: tuple[str, ...], values: tuple[str, ...], defaults: dict[str, str]
) -> None:
    key_columns = [
        sa.Column(column, sa.Text, nullable=False, server_default=defaults.get(column))
        for column in key
    ]
    op.create_table(
        name,
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("router_id", sa.Integer, nullable=False),
        *key_columns,
        *(sa.Column(column, sa.Text, nullable=True) for column in values),
        *_seen_columns(),
        sa.ForeignKeyConstraint(
            ["router_id"],
            ["routers.id"],
            name=op.f(f"fk_{name}_router_id_routers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")),
        sa.UniqueConstraint("router_id", *key, name=op.f(f"uq_{name}_router_id_{'_'.join(key)}")),
    )
    op.create_index(op.f(f"ix_{name}_router_id"), name, ["router_id"])


def upgrade() -> None:
    op.create_table(
        "routers",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("host", sa.Text, nullable=False),
        sa.Column("port", sa.Integer, nullable=False),
        sa.Column("identity", sa.Text),
        sa.Column("version", sa.Text),
        sa.Column("board", sa.Text),
        sa.Column("uptime", sa.Text),
        _timestamp("last_polled_at"),
        sa.Column("source", sa.Text, nullable=False, server_default="inventory"),
        sa.Column("node_id", sa.Integer),
        *_seen_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routers")),
        sa.UniqueConstraint("name", name=op.f("uq_routers_name")),
    )
    op.create_index(op.f("ix_routers_node_id"), "routers", ["node_id"])

    _create_router_table(
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
        {},
    )
    _create_router_table(
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
        {"session_id": ""},
    )
    _create_router_table(
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
        {},
    )
    _create_router_table(
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
        {},
    )

    op.create_table(
        "sync_runs",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("trigger", sa.Text, nullable=False),
        _timestamp("started_at", nullable=False),
        _timestamp("finished_at"),
        _timestamp("heartbeat_at"),
        sa.Column("status", sa.Text, nullable=False),
        *_counts(),
        sa.Column("error", sa.Text),
        sa.Column("dry_run", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("host", sa.Text),
        sa.Column("pid", sa.Integer),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_runs")),
    )
    op.create_index(op.f("ix_sync_runs_source"), "sync_runs", ["source"])

    op.create_table(
        "sync_targets",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("duration_s", sa.Float, nullable=False, server_default=sa.text("0")),
        *_counts(),
        sa.Column("error", sa.Text),
        sa.Column("detail", sa.Text),
        _timestamp("retry_after"),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["sync_runs.id"],
            name=op.f("fk_sync_targets_run_id_sync_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_targets")),
    )
    op.create_index(op.f("ix_sync_targets_run_id"), "sync_targets", ["run_id"])

    op.create_table(
        "sync_locks",
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("owner", sa.Text, nullable=False),
        _timestamp("acquired_at", nullable=False),
        _timestamp("heartbeat_at", nullable=False),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_sync_locks")),
    )


def downgrade() -> None:
    op.drop_table("sync_locks")
    op.drop_index(op.f("ix_sync_targets_run_id"), table_name="sync_targets")
    op.drop_table("sync_targets")
    op.drop_index(op.f("ix_sync_runs_source"), table_name="sync_runs")
    op.drop_table("sync_runs")
    for name in ("queues", "ppp_profiles", "ppp_active", "ppp_secrets"):
        op.drop_index(op.f(f"ix_{name}_router_id"), table_name=name)
        op.drop_table(name)
    op.drop_index(op.f("ix_routers_node_id"), table_name="routers")
    op.drop_table("routers")
