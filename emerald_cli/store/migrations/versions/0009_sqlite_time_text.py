"""SQLite: every stored time in one text form, "YYYY-MM-DD HH:MM:SS.ffffff".

SQLite keeps times as text and compares them as text. Rows inserted in bulk used to be written
without the fraction when it was zero ("2024-06-01 03:00:00") while rows written through
SQLAlchemy always carry it, so equal times compared unequal and sorted apart. PostgreSQL keeps
real timestamps: nothing to do there.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHOLE_SECOND = len("2024-06-01 03:00:00")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return

    inspector = sa.inspect(bind)
    for table in inspector.get_table_names():
        for column in inspector.get_columns(table):
            if isinstance(column["type"], sa.DateTime):
                name = f'"{column["name"]}"'
                op.execute(
                    f"UPDATE \"{table}\" SET {name} = {name} || '.000000' "  # noqa: S608
                    f"WHERE length({name}) = {WHOLE_SECOND}"
                )


def downgrade() -> None:
    """Both forms read back as the same time: the longer one can stay."""
