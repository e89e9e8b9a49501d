"""Indexes for the lookups operators make, and 64-bit ids for the signal readings.

A customer's connections (connections.customer_id) and an ONU by serial (onus.sn) were
sequential scans. The readings table only grows: a 30,000-ONU tenant read every five minutes
adds 8.6 million rows a day and would exhaust a 32-bit id within a year. On PostgreSQL the id
and its sequence become bigint; SQLite's INTEGER PRIMARY KEY is 64-bit already.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_connections_customer_id": ("connections", "customer_id"),
    "ix_onus_sn": ("onus", "sn"),
}


def upgrade() -> None:
    for name, (table, column) in INDEXES.items():
        op.create_index(name, table, [column])
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("onu_signal_readings", "id", existing_type=sa.Integer, type_=sa.BigInteger)
        op.execute("ALTER SEQUENCE IF EXISTS onu_signal_readings_id_seq AS bigint")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER SEQUENCE IF EXISTS onu_signal_readings_id_seq AS integer")
        op.alter_column("onu_signal_readings", "id", existing_type=sa.BigInteger, type_=sa.Integer)
    for name, (table, _column) in INDEXES.items():
        op.drop_index(name, table_name=table)
