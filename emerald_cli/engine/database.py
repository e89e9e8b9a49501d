"""Open the store for a command: connect, check the schema, and say plainly what went wrong."""

from __future__ import annotations

import logging

import sqlalchemy as sa

from emerald_cli.config import mask_url
from emerald_cli.errors import ConfigError, DatabaseError
from emerald_cli.store.database import check_connection, make_engine, normalise_url
from emerald_cli.store.errors import DatabaseUnavailable, StoreError
from emerald_cli.store.migrate import ensure_schema

logger = logging.getLogger(__name__)


def open_store(url: str, schema: str = "apply") -> sa.Engine:
    """An engine on a reachable database.

    `schema` says what to do about pending migrations: "apply" them (what sync commands do),
    "require" none (fail naming `emerald db upgrade`), or "ignore" them (the `db` commands).
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
        check_connection(engine)
        if schema != "ignore":
            ensure_schema(engine, apply=schema == "apply")
    except DatabaseUnavailable as error:
        raise DatabaseError(
            f"{error}; check that the database is running and the URL is right"
        ) from None
    except StoreError as error:
        raise DatabaseError(str(error)) from None
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
