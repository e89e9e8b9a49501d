"""ISPCube plans, nodes, customers and connections; SmartOLT OLTs, ONUs and their signals.

Revision ID: 0002
Revises: 0001
Create Date: 2024-12-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Each snapshot table with its natural key, in the order they are created.
NATURAL_KEYS = {
    "plans": ("plan_id",),
    "nodes": ("node_id",),
    "customers": ("customer_id",),
    "customer_emails": ("customer_id", "email"),
    "customer_phones": ("customer_id", "number"),
    "connections": ("connection_id",),
    "olts": ("olt_id",),
    "onus": ("olt_id", "board", "port", "onu"),
    "onu_statuses": ("unique_external_id",),
    "onu_signals": ("unique_external_id",),
}

INDEXES = {
    "connections": ("pppoe_user",),
    "onus": ("unique_external_id", "name", "username"),
}


def _timestamp(name: str, *, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _texts(*names: str) -> list[sa.Column[object]]:
    return [sa.Column(name, sa.Text) for name in names]


def _integers(*names: str, nullable: bool = True) -> list[sa.Column[object]]:
    return [sa.Column(name, sa.Integer, nullable=nullable) for name in names]


def _numbers(precision: int, scale: int, *names: str) -> list[sa.Column[object]]:
    return [sa.Column(name, sa.Numeric(precision, scale)) for name in names]


def _create_snapshot_table(name: str, *columns: sa.Column[object]) -> None:
    key = NATURAL_KEYS[name]
    op.create_table(
        name,
        sa.Column("id", sa.Integer, nullable=False),
        *columns,
        sa.Column("raw", sa.Text),
        _timestamp("first_seen_at", nullable=False),
        _timestamp("last_seen_at", nullable=False),
        _timestamp("removed_at"),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")),
        sa.UniqueConstraint(*key, name=op.f(f"uq_{name}_{'_'.join(key)}")),
    )
    for column in INDEXES.get(name, ()):
        op.create_index(op.f(f"ix_{name}_{column}"), name, [column])


def _create_ispcube_tables() -> None:
    _create_snapshot_table(
        "plans",
        *_integers("plan_id", nullable=False),
        *_texts("name", "speed", "comment"),
    )
    _create_snapshot_table(
        "nodes",
        *_integers("node_id", nullable=False),
        *_texts("name", "ip"),
        *_integers("port"),
        sa.Column("port_defaulted", sa.Boolean),
    )
    _create_snapshot_table(
        "customers",
        *_integers("customer_id", nullable=False),
        *_texts("code", "name", "status", "doc_number", "address", "tax_residence"),
        *_integers("city_id"),
        *_texts("city_name"),
        *_numbers(16, 12, "lat", "lng"),
        *_numbers(14, 2, "debt", "duedebt"),
        *(sa.Column(name, sa.Boolean) for name in ("block", "free", "speed_limited", "temporary")),
        *_texts("extra1", "extra2"),
        *(_timestamp(name) for name in ("start_date", "created_at", "updated_at", "deleted_at")),
    )
    _create_snapshot_table(
        "customer_emails",
        *_integers("customer_id", nullable=False),
        sa.Column("email", sa.Text, nullable=False),
    )
    _create_snapshot_table(
        "customer_phones",
        *_integers("customer_id", nullable=False),
        sa.Column("number", sa.Text, nullable=False),
    )
    _create_snapshot_table(
        "connections",
        *_integers("connection_id", nullable=False),
        *_integers("customer_id"),
        *_texts("pppoe_user"),
        *_integers("node_id", "plan_id"),
        *_texts("address", "conntype"),
    )


def _create_smartolt_tables() -> None:
    _create_snapshot_table(
        "olts",
        *_integers("olt_id", nullable=False),
        *_texts("name", "hardware_version", "ip"),
        *_integers("telnet_port", "snmp_port"),
    )
    _create_snapshot_table(
        "onus",
        *_integers("olt_id", "board", "port", "onu", nullable=False),
        *_texts("unique_external_id", "sn", "olt_name"),
        *_integers("onu_type_id"),
        *_texts("onu_type_name"),
        *_integers("zone_id"),
        *_texts("zone_name", "name", "address", "contact"),
        *_numbers(16, 12, "latitude", "longitude"),
        *_texts("odb_name", "odb_port", "mode", "wan_mode"),
        *_integers("vlan"),
        *_texts("username", "catv", "administrative_status"),
        _timestamp("authorization_date"),
        *_texts("status"),
        _timestamp("last_status_change"),
        *_texts("signal"),
        *_numbers(7, 2, "signal_1310", "signal_1490"),
        *_texts("service_ports"),
    )
    _create_snapshot_table(
        "onu_statuses",
        sa.Column("unique_external_id", sa.Text, nullable=False),
        *_texts("sn"),
        *_integers("olt_id", "board", "port", "onu"),
        *_texts("name", "status"),
        _timestamp("last_status_change"),
    )
    _create_snapshot_table(
        "onu_signals",
        sa.Column("unique_external_id", sa.Text, nullable=False),
        *_texts("sn", "signal"),
        *_numbers(7, 2, "signal_1310", "signal_1490"),
    )

    op.create_table(
        "onu_signal_readings",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("unique_external_id", sa.Text, nullable=False),
        _timestamp("read_at", nullable=False),
        *_texts("signal"),
        *_numbers(7, 2, "signal_1310", "signal_1490"),
        *_integers("run_id"),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["sync_runs.id"],
            name=op.f("fk_onu_signal_readings_run_id_sync_runs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_onu_signal_readings")),
    )
    op.create_index(
        op.f("ix_onu_signal_readings_unique_external_id_read_at"),
        "onu_signal_readings",
        ["unique_external_id", "read_at"],
    )


def upgrade() -> None:
    _create_ispcube_tables()
    _create_smartolt_tables()


def downgrade() -> None:
    op.drop_index(
        op.f("ix_onu_signal_readings_unique_external_id_read_at"),
        table_name="onu_signal_readings",
    )
    op.drop_table("onu_signal_readings")
    for name in reversed(NATURAL_KEYS):
        for column in INDEXES.get(name, ()):
            op.drop_index(op.f(f"ix_{name}_{column}"), table_name=name)
        op.drop_table(name)
