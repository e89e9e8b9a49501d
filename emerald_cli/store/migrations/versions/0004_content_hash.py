"""A hash of each snapshot row's values, so a sync need not read every column back to compare.

Rows already stored get NULL: the next sync compares those column by column, as before, and
writes their hash, so no row is reported changed by the upgrade itself.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The tables write_snapshot() keeps, as of this revision.
SNAPSHOT_TABLES = (
    "ppp_secrets",
    "ppp_active",
    "ppp_profiles",
    "queues",
    "plans",
    "nodes",
    "customers",
    "customer_emails",
    "customer_phones",
    "connections",
    "olts",
    "onus",
    "onu_statuses",
    "onu_signals",
)


def upgrade() -> None:
    for table in SNAPSHOT_TABLES:
        op.add_column(table, sa.Column("content_hash", sa.BigInteger, nullable=True))


def downgrade() -> None:
    for table in SNAPSHOT_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("content_hash")
