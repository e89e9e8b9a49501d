"""ONU statuses, signals and signal readings are known by PON position, like the ONUs.

SmartOLT's unique_external_id repeats (an ONU replaced without its id being changed is still
listed under its old position), so keyed by it two ONUs shared one status and one signal row
and one of them was silently lost. A stored status row carries its position already. A stored
signal row gets the position of the one ONU with its external id; a row whose id names no ONU,
or several, cannot be placed and is dropped: the next sync stores it again, placed by its
position. Old readings are placed the same way where they can be and keep NULL where not.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POSITION = ("olt_id", "board", "port", "onu")
READINGS_BY_POSITION = "ix_onu_signal_readings_olt_id_board_port_onu_read_at"


def _table(name: str) -> sa.TableClause:
    """The columns this revision reads and writes, as they are before and after it."""
    return sa.table(
        name,
        sa.column("id", sa.Integer),
        sa.column("unique_external_id", sa.Text),
        sa.column("removed_at", sa.DateTime),
        *(sa.column(column, sa.Integer) for column in POSITION),
    )


def _place(name: str) -> None:
    """Fill the position of each row of `name` from the one listed ONU with its external id."""
    onus, target = _table("onus"), _table(name)
    placed = (
        sa.select(
            onus.c.unique_external_id,
            *(sa.func.min(onus.c[column]).label(column) for column in POSITION),
        )
        .where(onus.c.removed_at.is_(None), onus.c.unique_external_id.is_not(None))
        .group_by(onus.c.unique_external_id)
        .having(sa.func.count() == 1)
        .subquery("placed")
    )
    op.execute(
        target.update().values(
            {
                column: sa.select(placed.c[column])
                .where(placed.c.unique_external_id == target.c.unique_external_id)
                .scalar_subquery()
                for column in POSITION
            }
        )
    )


def _without_position(name: str) -> sa.Delete:
    target = _table(name)
    return target.delete().where(sa.or_(*(target.c[column].is_(None) for column in POSITION)))


def _rekey(table: str) -> None:
    with op.batch_alter_table(table) as batch:
        batch.drop_constraint(f"uq_{table}_unique_external_id", type_="unique")
        batch.alter_column("unique_external_id", existing_type=sa.Text, nullable=True)
        for column in POSITION:
            batch.alter_column(column, existing_type=sa.Integer, nullable=False)
        batch.create_unique_constraint(f"uq_{table}_{'_'.join(POSITION)}", list(POSITION))


def upgrade() -> None:
    op.execute(_without_position("onu_statuses"))
    _rekey("onu_statuses")

    with op.batch_alter_table("onu_signals") as batch:
        for column in POSITION:
            batch.add_column(sa.Column(column, sa.Integer, nullable=True))
    _place("onu_signals")
    op.execute(_without_position("onu_signals"))
    _rekey("onu_signals")

    with op.batch_alter_table("onu_signal_readings") as batch:
        for column in POSITION:
            batch.add_column(sa.Column(column, sa.Integer, nullable=True))
        batch.alter_column("unique_external_id", existing_type=sa.Text, nullable=True)
    _place("onu_signal_readings")
    op.create_index(
        READINGS_BY_POSITION, "onu_signal_readings", [*POSITION, "read_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(READINGS_BY_POSITION, table_name="onu_signal_readings")
    readings = _table("onu_signal_readings")
    op.execute(readings.delete().where(readings.c.unique_external_id.is_(None)))
    with op.batch_alter_table("onu_signal_readings") as batch:
        batch.alter_column("unique_external_id", existing_type=sa.Text, nullable=False)
        for column in POSITION:
            batch.drop_column(column)

    for table in ("onu_statuses", "onu_signals"):
        # Keyed by external id again, a repeated id keeps one row: the one stored last.
        rows = _table(table)
        last = sa.select(sa.func.max(rows.c.id)).group_by(rows.c.unique_external_id)
        op.execute(
            rows.delete().where(
                sa.or_(rows.c.unique_external_id.is_(None), rows.c.id.not_in(last))
            )
        )
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(f"uq_{table}_{'_'.join(POSITION)}", type_="unique")
            batch.alter_column("unique_external_id", existing_type=sa.Text, nullable=False)
            for column in POSITION:
                batch.alter_column(column, existing_type=sa.Integer, nullable=True)
            batch.create_unique_constraint(
                f"uq_{table}_unique_external_id", ["unique_external_id"]
            )
    with op.batch_alter_table("onu_signals") as batch:
        for column in POSITION:
            batch.drop_column(column)
