"""Schema migrations run from code: `emerald db upgrade` and the check before every sync.

Alembic is configured here rather than from an alembic.ini, so an installed wheel migrates
its database with nothing but the package's own files.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from emerald_cli.store.database import connect
from emerald_cli.store.errors import SchemaNewer, SchemaOutdated, StoreError

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def _config(connection: sa.Connection | None = None, migrations: Path = MIGRATIONS_DIR) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations).replace("%", "%%"))
    config.attributes["connection"] = connection
    config.attributes["applied"] = []
    return config


def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def head_revision() -> str:
    """The newest revision this version of emerald ships."""
    head = _scripts().get_current_head()
    assert head is not None
    return head


def current_revision(engine: sa.Engine) -> str | None:
    """The revision the database is at; None for a database never migrated."""
    with connect(engine) as conn:
        return MigrationContext.configure(conn).get_current_revision()


def pending_revisions(engine: sa.Engine) -> list[str]:
    """Revisions not yet applied, oldest first; raises SchemaNewer for an unknown revision."""
    return revisions_after(current_revision(engine))


def revisions_after(current: str | None) -> list[str]:
    """The revisions a database at `current` (None: never migrated) lacks, oldest first."""
    scripts = _scripts()
    if current is not None and current not in {
        script.revision for script in scripts.walk_revisions()
    }:
        raise SchemaNewer(current)

    newest_first = scripts.iterate_revisions("heads", current or "base")
    return [script.revision for script in reversed(list(newest_first))]


def upgrade(engine: sa.Engine, *, migrations: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply every pending migration in one transaction; returns the revisions applied.

    `migrations` is the package's own folder; tests point it at a copy with extra revisions.
    """
    with connect(engine) as conn, _foreign_keys_off_on_sqlite(conn):
        config = _config(conn, migrations)
        with conn.begin():
            if conn.dialect.name == "sqlite":
                # Take the write lock first: a second process waits, then finds nothing to do.
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            command.upgrade(config, "heads")
            _check_foreign_keys(conn)

    applied: list[str] = config.attributes["applied"]
    if applied:
        logger.info("database migrated: applied %s", ", ".join(applied))
    else:
        logger.debug("database schema already at head")
    return applied


def ensure_schema(engine: sa.Engine, apply: bool = True) -> list[str]:
    """Bring the schema to head, or with apply=False refuse to go on with an old schema."""
    pending = pending_revisions(engine)
    if not pending:
        return []

    if not apply:
        raise SchemaOutdated(current_revision(engine), pending)
    return upgrade(engine)


@contextmanager
def _foreign_keys_off_on_sqlite(conn: sa.Connection) -> Iterator[None]:
    """Turn SQLite's foreign keys off while migrating.

    A batch migration rebuilds a table by dropping it, and with foreign keys on that drop
    would cascade into every router's rows. The pragma only works outside a transaction.
    """
    if conn.dialect.name != "sqlite":
        yield
        return

    raw = conn.connection.dbapi_connection
    assert raw is not None
    raw.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        raw.execute("PRAGMA foreign_keys=ON")


def _check_foreign_keys(conn: sa.Connection) -> None:
    if conn.dialect.name != "sqlite":
        return

    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise StoreError(f"migration left {len(broken)} row(s) with a broken foreign key")
