"""Open the store for a command: connect, check the schema, and say plainly what went wrong."""

from __future__ import annotations

import logging

import sqlalchemy as sa

from emerald_cli.config import mask_url
from emerald_cli.errors import ConfigError, DatabaseError
from emerald_cli.store.database import (
    check_connection,
    make_engine,
    missing_sqlite_file,
    normalise_url,
)
from emerald_cli.store.errors import DatabaseUnavailable, SchemaOutdated, StoreError
from emerald_cli.store.migrate import ensure_schema, revisions_after

logger = logging.getLogger(__name__)


def open_store(url: str, schema: str = "apply") -> sa.Engine:
    """An engine on a reachable database.

    `schema` says what to do about pending migrations: "apply" them (what sync commands do),
    "require" none (fail with SchemaOutdated, naming `emerald db upgrade`: what dry runs and
    reads do, which create nothing, not even a SQLite file), or "ignore" them (the `db`
    commands).
    """
    shown = mask_url(url)
    try:
        normalise_url(url)
    except (StoreError, sa.exc.ArgumentError) as error:
        raise ConfigError(
            f"{shown} is not a usable database URL ({error}): fix --database-url or "
            "EMERALD_DATABASE_URL"
        ) from None

    try:
        engine = make_engine(url)
        if schema == "require" and missing_sqlite_file(engine):
            raise SchemaOutdated(None, revisions_after(None))
        check_connection(engine)
        if schema != "ignore":
            ensure_schema(engine, apply=schema == "apply")
    except DatabaseUnavailable as error:
        if error.misconfigured:
            raise ConfigError(str(error)) from None
        raise DatabaseError(
            f"{error}; check that the database is running and the URL is right"
        ) from None
    except sa.exc.ArgumentError as error:
        raise ConfigError(
            f"{shown} is not a usable database URL ({error}): fix --database-url or "
            "EMERALD_DATABASE_URL"
        ) from None
    except sa.exc.SQLAlchemyError as error:
        reason = str(getattr(error, "orig", error)).strip().splitlines()[0]
        raise DatabaseError(
            f"cannot use the database {shown} ({reason}): check that it is running and "
            "the URL is right"
        ) from None
    return engine
