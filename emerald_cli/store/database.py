"""Engines for SQLite and PostgreSQL, configured the way the rest of the store relies on.

SQLite keeps the sqlite3 driver's own transaction handling: a SELECT opens no transaction and
the first write begins one, so readers never block the sync and writers queue on busy_timeout.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from emerald_cli.store.errors import DatabaseUnavailable, StoreError
from emerald_cli.store.timestamps import utc_now

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_WAL_RETRY_S = 0.05
POSTGRES_MAX_BIND_PARAMETERS = 65_535
POSTGRES_CONNECT_TIMEOUT_S = 10
POSTGRES_DRIVER = "postgresql+psycopg"

# Errors SQLAlchemy raises when the driver cannot open a connection.
CONNECT_ERRORS = (sa.exc.OperationalError, sa.exc.InterfaceError)


def normalise_url(url: str) -> URL:
    """Parse `url`, sending every PostgreSQL spelling to psycopg 3."""
    if url.partition("://")[2].count("@") > 1:
        raise StoreError("it has more than one @: write an @ in the user or password as %40")
    try:
        parsed = make_url(url)
    except ValueError:
        raise StoreError("its port is not a number") from None

    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername=POSTGRES_DRIVER)

    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise StoreError(
            f"unsupported database {parsed.get_backend_name()!r}: use sqlite:/// or postgresql://"
        )
    return parsed


def make_engine(url: str) -> sa.Engine:
    """An engine for `url`; nothing connects until the first query."""
    parsed = normalise_url(url)

    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)

    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in parsed.query:
        connect_args["connect_timeout"] = POSTGRES_CONNECT_TIMEOUT_S
    return sa.create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)


def _sqlite_engine(url: URL) -> sa.Engine:
    database = url.database or ""
    if _names_a_file(database):
        # A typo in the path must not quietly start an empty database somewhere new.
        folder = Path(database).expanduser().parent
        if not folder.is_dir():
            raise DatabaseUnavailable(
                redacted_url(url),
                f"the folder {folder} does not exist: create it, or fix the path in the URL",
                misconfigured=True,
            )

    engine = sa.create_engine(url)
    sa.event.listen(engine, "connect", _configure_sqlite_connection)
    return engine


def missing_sqlite_file(engine: sa.Engine) -> bool:
    """Whether the engine's database is a SQLite file not there yet, which connecting would
    create: a command that must create nothing then does not connect."""
    database = engine.url.database or ""
    if engine.dialect.name != "sqlite" or not _names_a_file(database):
        return False
    return not Path(database).expanduser().exists()


def _names_a_file(database: str) -> bool:
    """A SQLite database given as a path, not in memory nor as a `file:` URI."""
    return bool(database) and database != ":memory:" and not database.startswith("file:")


def _configure_sqlite_connection(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        _enable_wal(cursor)
        # In WAL mode NORMAL still never corrupts the file; at worst a power cut loses the
        # last commits, which the next sync writes again. FULL costs an fsync per router.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _enable_wal(cursor: sqlite3.Cursor) -> None:
    """Switch the file to WAL, retrying while it is locked.

    Two processes opening a new file at once make one of them fail with "database is locked"
    straight away: busy_timeout does not cover the switch.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            logger.debug("switching SQLite to WAL: %s; trying again", error)
            time.sleep(SQLITE_WAL_RETRY_S)
        else:
            return


def redacted_url(url: URL | sa.Engine) -> str:
    """The URL with its password masked, fit for messages and logs."""
    parsed = url.url if isinstance(url, sa.Engine) else url
    return parsed.render_as_string(hide_password=True)


def bind_processor(conn: sa.Connection, column: sa.Column[Any]) -> Callable[[Any], Any] | None:
    """What SQLAlchemy applies to a column's values on their way in, for writers that go past
    it (COPY, the driver's executemany): through the dialect's own type, so that SQLite's
    DATETIME writes its text in the one form SQLAlchemy's own statements use."""
    dialect = conn.dialect
    processor: Callable[[Any], Any] | None = column.type.dialect_impl(dialect).bind_processor(
        dialect
    )
    return processor


def max_bind_parameters(engine: sa.Engine | sa.Connection) -> int:
    """How many bound parameters one statement may carry, asked of the live database.

    Debian's SQLite allows 250,000, stock builds 32,766 and old ones 999, so it is read from
    the connection rather than assumed. Accepts an engine or an open connection.
    """
    if engine.dialect.name != "sqlite":
        return POSTGRES_MAX_BIND_PARAMETERS

    if isinstance(engine, sa.Connection):
        return _sqlite_variable_limit(engine)
    with engine.connect() as conn:
        return _sqlite_variable_limit(conn)


def _sqlite_variable_limit(conn: sa.Connection) -> int:
    raw = conn.connection.dbapi_connection
    assert raw is not None
    return int(raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))


def check_connection(engine: sa.Engine) -> None:
    """Open and close one connection, turning "cannot connect" into DatabaseUnavailable."""
    with connect(engine) as conn:
        conn.execute(sa.text("SELECT 1"))


def connect(engine: sa.Engine) -> sa.Connection:
    """engine.connect(), with a failure to connect raised as DatabaseUnavailable.

    Only the opening is translated: errors of later statements rise unchanged.
    """
    try:
        return engine.connect()
    except CONNECT_ERRORS as error:
        lines = str(getattr(error, "orig", error)).strip().splitlines()
        reason = lines[0] if lines else type(error).__name__
        logger.debug("cannot connect to %s: %s", redacted_url(engine), reason)
        name = engine.url.database
        if engine.dialect.name == "postgresql" and f'database "{name}" does not exist' in reason:
            fix = f"create it (createdb {name}), or fix the database name in the URL"
            raise DatabaseUnavailable(
                redacted_url(engine), f'database "{name}" does not exist: {fix}', True
            ) from error
        raise DatabaseUnavailable(redacted_url(engine), reason) from error


def database_now(conn: sa.Connection) -> datetime:
    """The time by the database's clock, so hosts with skewed clocks agree on heartbeats.

    SQLite lives on this machine, so its clock is ours.
    """
    if conn.dialect.name != "postgresql":
        return utc_now()

    value: datetime = conn.execute(sa.select(sa.func.clock_timestamp())).scalar_one()
    return value.astimezone(UTC)


@contextmanager
def transaction(engine: sa.Engine, dry_run: bool = False) -> Iterator[sa.Connection]:
    """A connection in one transaction: committed at the end, rolled back on error or dry run.

    A dry run goes through every statement (so counts and constraint errors are real) and
    then keeps nothing.
    """
    with engine.connect() as conn:
        pending = conn.begin()
        try:
            yield conn
        except BaseException:
            pending.rollback()
            raise
        if dry_run:
            pending.rollback()
        else:
            pending.commit()
