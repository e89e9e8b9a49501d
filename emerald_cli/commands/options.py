"""Options shared by several commands, and the one place errors become exit codes.

Exit codes: 0 all ok, 1 failed (nothing synced, or an unexpected error), 2 usage or
configuration error, 3 partial (some targets failed), 4 another sync of the source is running.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import sqlalchemy as sa
import typer

from emerald_cli import console
from emerald_cli.config import Settings, resolve_settings
from emerald_cli.errors import ConfigError, EmeraldError
from emerald_cli.logs import REDACTOR, SHOWN, setup_logging
from emerald_cli.store.errors import DatabaseFailed

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PARTIAL, EXIT_BUSY = 0, 1, 2, 3, 4
STATUS_EXIT = {"ok": EXIT_OK, "partial": EXIT_PARTIAL, "failed": EXIT_FAILED}

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="SQLAlchemy URL of the database [env: EMERALD_DATABASE_URL; default: a SQLite "
        "file in EMERALD_HOME].",
    ),
]
JsonOutput = Annotated[
    bool, typer.Option("--json", help="Print JSON on stdout instead of tables.")
]
Verbose = Annotated[
    bool, typer.Option("--verbose", "-v", help="Log DEBUG to the file, INFO to stderr.")
]
InventoryFile = Annotated[
    Path | None,
    typer.Option(
        "--inventory",
        help="TOML file listing the routers and their credentials [env: EMERALD_INVENTORY].",
    ),
]

ConfigFile = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="TOML file with [ispcube], [smartolt] and router [defaults] [env: EMERALD_CONFIG].",
    ),
]

Command = TypeVar("Command", bound=Callable[..., Any])


def exits_cleanly(command: Command) -> Command:
    """Turn our errors into one red line and their exit code; anything else exits 1."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except EmeraldError as error:
            _fail(error)
        except KeyboardInterrupt as error:
            stopped = _run_ended(error) or "interrupted"
            console.error(f"{stopped}: rows written so far are kept; run the command again")
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort):
            raise
        except sa.exc.DBAPIError as error:
            # The database's own failure, not a bug: one line, as for our own errors.
            logger.debug("database error", exc_info=True)
            _fail(DatabaseFailed.from_driver(error), cause=error)
        except Exception as error:
            # A bug, not an operator's mistake: the traceback goes to the log file only.
            logger.exception("unexpected error", extra={SHOWN: True})
            message = REDACTOR.scrub(f"{type(error).__name__}: {error}")
            console.error(
                _with_run(error, f"unexpected error ({message}); the log file has the details")
            )
            raise typer.Exit(EXIT_FAILED) from None

    return wrapper  # type: ignore[return-value]


def _create_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(
            f"cannot create {folder} ({error.strerror or error}): set EMERALD_HOME to a "
            "writable place, or --database-url"
        ) from None


def _run_ended(error: BaseException) -> str | None:
    """`run 12 interrupted` when the error ended a recorded run (SyncRun hands its report to
    the error): the id is what `emerald runs show` needs."""
    report = getattr(error, "run_report", None)
    if report is None or report.run_id is None:
        return None
    return f"run {report.run_id} {report.status}"


def _with_run(error: BaseException, message: str) -> str:
    ended = _run_ended(error)
    return f"{ended}: {message}" if ended else message


def _fail(error: EmeraldError, cause: BaseException | None = None) -> NoReturn:
    message = _with_run(cause or error, REDACTOR.scrub(str(error)))
    if logging.getLogger().handlers:  # else Python would print it a second time
        logger.error("%s", message, extra={SHOWN: True})
    console.error(message)
    raise typer.Exit(error.exit_code) from None


def prepare(
    *,
    database_url: str | None = None,
    inventory: Path | None = None,
    config: Path | None = None,
    workers: int | None = None,
    timeout: float | None = None,
    verbose: bool = False,
    quiet: bool = False,
) -> Settings:
    """Resolve the settings and start logging; every command that does work starts here."""
    settings = resolve_settings(
        database_url=database_url,
        inventory=inventory,
        config=config,
        workers=workers,
        timeout=timeout,
    )
    if settings.database_url.origin == "default":
        # Emerald's own folder holds the default database; any other path must exist.
        _create_folder(Path(settings.data_dir.value))
    log_file = Path(settings.log_file.value)
    try:
        setup_logging(log_file, verbose=verbose, quiet=quiet)
    except OSError as error:
        reason = error.strerror or str(error)
        if error.filename and str(error.filename) != str(log_file):
            reason = f"{error.filename}: {reason}"  # its lock file, beside it
        raise ConfigError(
            f"cannot write the log file {log_file} ({reason}): "
            "set EMERALD_LOG_FILE or EMERALD_HOME to a writable place"
        ) from None

    config_file = settings.config.value
    if config_file is not None and not Path(config_file).is_file():
        raise ConfigError(
            f"{config_file}: config file not found ({settings.config.origin}): fix the path"
        )
    return settings
