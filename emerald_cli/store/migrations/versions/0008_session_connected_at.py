"""When each PPP session began (ppp_active.connected_at), computed from its uptime.

A session's uptime grows every second, so it no longer counts as a change of the row; the time
the session began stays put. Sessions stored before this revision get theirs on the next sync.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "ppp_active", sa.Column("connected_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("ppp_active") as batch:
        batch.drop_column("connected_at")
