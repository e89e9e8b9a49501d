"""Open the store for a command: connect, check the schema, and say plainly what went wrong."""

from __future__ import annotations

import logging

import sqlalchemy as sa

from emerald_cli.config import mask_url
from emerald_cli.errors import DatabaseError
from emerald_cli.store.database import make_engine
from emerald_cli.store.errors import StoreError
from emerald_cli.store.migrate import ensure_schema

logger = logging.getLogger(__name__)


def open_store(url: str, apply_migrations: bool = True) -> sa.Engine:
    """An engine on a reachable database with the current schema (applied when allowed)."""
    shown = mask_url(url)
    try:
        engine = make_engine(url)
        ensure_schema(engine, apply=apply_migrations)
    except StoreError as error:
        raise DatabaseError(
            f"{error}; check that the database is running and the URL is right"
        ) from None
    except sa.exc.ArgumentError as error:
        raise DatabaseError(
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
