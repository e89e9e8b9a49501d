"""Alembic's entry point, driven from emerald_cli.store.migrate with an open connection.

There is no alembic.ini: migrate.py passes the connection (already inside a transaction) in
`config.attributes`, so the whole upgrade commits or rolls back as one.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import context

from emerald_cli.store.schema import metadata

# Two processes upgrading the same PostgreSQL schema queue on this lock; the second one then
# finds the work done. Keyed by schema so separate schemas do not wait on each other.
ADVISORY_LOCK_SQL = (
    "SELECT pg_advisory_xact_lock(hashtext('emerald-migrate:' || current_schema()))"
)


def _record_applied(applied: list[str]) -> Any:
    def on_version_apply(*, step: Any, **_kwargs: Any) -> None:
        applied.append(step.up_revision_id)

    return on_version_apply


def run_migrations_online() -> None:
    config = context.config
    connection: sa.Connection | None = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("emerald migrations run through emerald_cli.store.migrate only")

    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        on_version_apply=[_record_applied(config.attributes.setdefault("applied", []))],
    )

    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text(ADVISORY_LOCK_SQL))
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) migrations are not supported")
run_migrations_online()
