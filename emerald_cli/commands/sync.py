"""`emerald sync ...`: one command per source, the same flags, output and exit codes for each."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial, wraps
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
import typer

from emerald_cli import console
from emerald_cli.accounts import ispcube_account, smartolt_account
from emerald_cli.commands.options import (
    STATUS_EXIT,
    Command,
    ConfigFile,
    DatabaseUrl,
    InventoryFile,
    JsonOutput,
    Verbose,
    exits_cleanly,
    prepare,
)
from emerald_cli.config import (
    Inventory,
    Settings,
    inventory_from_nodes,
    load_inventory,
    node_default_port,
    node_inventory,
)
from emerald_cli.engine.database import open_store
from emerald_cli.engine.ispcube import STREAMS as ISPCUBE_STREAMS
from emerald_cli.engine.ispcube import sync_ispcube
from emerald_cli.engine.mikrotik import sync_mikrotik
from emerald_cli.engine.run import Progress, RunReport, SyncRun
from emerald_cli.engine.smartolt import STREAMS as SMARTOLT_STREAMS
from emerald_cli.engine.smartolt import sync_smartolt
from emerald_cli.engine.streams import chosen_streams
from emerald_cli.errors import EmeraldError
from emerald_cli.logs import REDACTOR
from emerald_cli.store.routers import node_routers

app = typer.Typer(
    rich_markup_mode=None, help="Pull data from a source into the database.", no_args_is_help=True
)


Only = Annotated[
    list[str] | None, typer.Option("--only", help="Poll only this router (repeat for more).")
]
ISPCubeOnly = Annotated[
    list[str] | None,
    typer.Option(
        "--only",
        help=f"Read only this stream (repeat for more): {', '.join(ISPCUBE_STREAMS)}.",
    ),
]
SmartOLTOnly = Annotated[
    list[str] | None,
    typer.Option(
        "--only",
        help=f"Read only this stream (repeat for more): {', '.join(SMARTOLT_STREAMS)}. "
        "Without onus, statuses and signals are placed on the ONUs stored before.",
    ),
]
Workers = Annotated[
    int | None,
    typer.Option(
        "--workers", min=1, help="Worker processes [env: EMERALD_WORKERS; default: cores]."
    ),
]
Timeout = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        min=0.1,
        max=86_400,
        help="Seconds per router for its whole poll, overriding the inventory "
        "[env: EMERALD_TIMEOUT].",
    ),
]
DryRun = Annotated[
    bool, typer.Option("--dry-run", help="Read and report what would change; write nothing.")
]


def prints_the_run_cut_short(command: Command) -> Command:
    """With --json, a run that Ctrl-C or an error ended still prints, as `sync all` prints it:
    it was recorded, and a script wants its id and what it wrote, not an empty stdout."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except BaseException as error:
            cut_short: RunReport | None = getattr(error, "run_report", None)
            if kwargs.get("json_output") and cut_short is not None:
                console.print_json(cut_short.as_json())
            raise

    return wrapper  # type: ignore[return-value]


@app.command("mikrotik")
@exits_cleanly
@prints_the_run_cut_short
def mikrotik(
    inventory: InventoryFile = None,
    only: Only = None,
    workers: Workers = None,
    timeout: Timeout = None,
    dry_run: DryRun = False,
    json_output: JsonOutput = False,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
    verbose: Verbose = False,
) -> None:
    """Poll the routers in parallel and store their PPP and queue tables.

    Without --inventory the routers are ISPCube's nodes, as stored by `emerald sync ispcube`.
    """
    settings = prepare(
        database_url=database_url,
        inventory=inventory,
        config=config,
        workers=workers,
        timeout=timeout,
        verbose=verbose,
        quiet=json_output,
    )
    engine = open_store(settings.database_url.value, schema=_schema_mode(dry_run))
    report = _mikrotik(engine, settings, only or [], dry_run, json_output).report
    finish(report, json_output)


@app.command("ispcube")
@exits_cleanly
@prints_the_run_cut_short
def ispcube(
    only: ISPCubeOnly = None,
    dry_run: DryRun = False,
    json_output: JsonOutput = False,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
    verbose: Verbose = False,
) -> None:
    """Store ISPCube's plans, nodes (as routers), customers and connections."""
    streams = chosen_streams(ISPCUBE_STREAMS, only or []) or ISPCUBE_STREAMS
    settings = prepare(
        database_url=database_url, config=config, verbose=verbose, quiet=json_output
    )
    account = ispcube_account(settings.config.value)
    REDACTOR.add(account.api_key, account.password)
    sync = partial(sync_ispcube, default_port=node_default_port(settings.config.value))
    engine = open_store(settings.database_url.value, schema=_schema_mode(dry_run))

    show = console.interactive(json_output)
    finish(_api_sync(sync, engine, account, dry_run, show, streams), json_output)


@app.command("smartolt")
@exits_cleanly
@prints_the_run_cut_short
def smartolt(
    only: SmartOLTOnly = None,
    dry_run: DryRun = False,
    json_output: JsonOutput = False,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
    verbose: Verbose = False,
) -> None:
    """Store SmartOLT's OLTs, ONUs, ONU statuses and optical signals."""
    streams = chosen_streams(SMARTOLT_STREAMS, only or []) or SMARTOLT_STREAMS
    settings = prepare(
        database_url=database_url, config=config, verbose=verbose, quiet=json_output
    )
    account = smartolt_account(settings.config.value)
    REDACTOR.add(account.token)
    engine = open_store(settings.database_url.value, schema=_schema_mode(dry_run))

    show = console.interactive(json_output)
    finish(_api_sync(sync_smartolt, engine, account, dry_run, show, streams), json_output)


@app.command("all")
@exits_cleanly
def sync_all(
    inventory: InventoryFile = None,
    workers: Workers = None,
    timeout: Timeout = None,
    dry_run: DryRun = False,
    json_output: JsonOutput = False,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
    verbose: Verbose = False,
) -> None:
    """ISPCube first (its nodes are the routers), then the routers, then SmartOLT."""
    settings = prepare(
        database_url=database_url,
        inventory=inventory,
        config=config,
        workers=workers,
        timeout=timeout,
        verbose=verbose,
        quiet=json_output,
    )
    ispcube_settings = ispcube_account(settings.config.value)
    smartolt_settings = smartolt_account(settings.config.value)
    REDACTOR.add(ispcube_settings.api_key, ispcube_settings.password, smartolt_settings.token)
    ispcube_sync = partial(sync_ispcube, default_port=node_default_port(settings.config.value))
    # A bad inventory file must stop the run before ISPCube is synced, not after.
    given = None
    if settings.inventory.value is not None:
        given = load_inventory(settings.inventory.value, settings.timeout.value)
    else:
        node_inventory(settings.config.value, settings.timeout.value)
    engine = open_store(settings.database_url.value, schema=_schema_mode(dry_run))
    show = console.interactive(json_output)

    steps: list[Callable[[], RunReport]] = [
        lambda: _api_sync(ispcube_sync, engine, ispcube_settings, dry_run, show, ISPCUBE_STREAMS),
        lambda: _mikrotik(engine, settings, [], dry_run, json_output, given).report,
        lambda: _api_sync(
            sync_smartolt, engine, smartolt_settings, dry_run, show, SMARTOLT_STREAMS
        ),
    ]
    reports: list[RunReport] = []
    try:
        for step in steps:
            reports.append(step())
    except (EmeraldError, KeyboardInterrupt) as error:
        # The sources already synced are stored and recorded: say so before the error does,
        # the run it cut short included.
        cut_short: RunReport | None = getattr(error, "run_report", None)
        if cut_short is not None:
            reports.append(cut_short)
        if reports:
            stopped = "interrupted" if isinstance(error, KeyboardInterrupt) else "failed"
            _print_runs(reports, stopped, json_output, REDACTOR.scrub(str(error)) or stopped)
            # The error's own line, printed on the way out, names the run it cut short.
            for report in reports:
                if report is not cut_short:
                    console.print_run_ended(report)
        raise

    status = _overall(reports)
    error = _runs_not_ok(reports)
    _print_runs(reports, status, json_output, error)
    for report in reports:
        console.print_run_ended(report)
    if error is not None:
        console.print_ended(status, f"all sources {status}: {error}")
    raise typer.Exit(STATUS_EXIT.get(status, 1))


def _print_runs(
    reports: list[RunReport], status: str, json_output: bool, error: str | None = None
) -> None:
    """`sync all`'s output: every run's report, and what stopped the rest or which runs did
    not end ok, if anything did."""
    if json_output:
        runs = [report.as_json() for report in reports]
        console.print_json({"status": status, "error": error, "runs": runs})
        return
    for report in reports:
        console.print_summary(report)
    console.print_overall(status, len(reports))


def _runs_not_ok(reports: list[RunReport]) -> str | None:
    """`2 of 3 runs did not end ok: run 5 (mikrotik) partial, …`; None when all did. Each run's
    own error says why: this only points at them."""
    not_ok = [report for report in reports if report.status != "ok"]
    if not not_ok:
        return None
    named = ", ".join(
        f"{console.run_name(report)} ({report.source}) {report.status}"
        if report.run_id is not None
        else f"{console.run_name(report)} {report.status}"
        for report in not_ok
    )
    return f"{len(not_ok)} of {len(reports)} runs did not end ok: {named}"


def finish(report: RunReport, json_output: bool) -> None:
    """Print the report, and why on stderr when it is not ok; leave with the exit code its
    status calls for."""
    if json_output:
        console.print_json(report.as_json())
    else:
        console.print_summary(report)
    console.print_run_ended(report)
    raise typer.Exit(STATUS_EXIT.get(report.status, 1))


def _mikrotik(
    engine: sa.Engine,
    settings: Settings,
    only: list[str],
    dry_run: bool,
    json_output: bool,
    inventory: Inventory | None = None,
) -> SyncRun:
    """`inventory` when it was loaded already, else the one the settings name."""
    if inventory is None:
        inventory = _inventory(engine, settings)
    routers = inventory.select(only)
    with console.target_progress(len(routers), console.interactive(json_output)) as shown:
        return sync_mikrotik(
            engine,
            routers,
            workers=settings.workers.value,
            dry_run=dry_run,
            progress=Progress(started=shown.started, finished=shown.finished),
        )


def _inventory(engine: sa.Engine, settings: Settings) -> Inventory:
    """The --inventory file when given, else the routers ISPCube's nodes named."""
    path: Path | None = settings.inventory.value
    if path is not None:
        return load_inventory(path, settings.timeout.value)

    with engine.connect() as conn:
        nodes: list[dict[str, Any]] = [
            {"name": router.name, "host": router.host, "port": router.port}
            for router in node_routers(conn)
        ]
    return inventory_from_nodes(settings.config.value, nodes, settings.timeout.value)


def _api_sync(
    sync: Callable[..., SyncRun],
    engine: sa.Engine,
    account: Any,
    dry_run: bool,
    show: bool,
    streams: Sequence[str],
) -> RunReport:
    """One API source's sync of `streams` with its progress display; its report."""
    with console.target_progress(len(streams), show, "streams") as shown:
        progress = Progress(started=shown.started, finished=shown.finished, read=shown.read)
        return sync(engine, account, dry_run=dry_run, progress=progress, only=streams).report


def _schema_mode(dry_run: bool) -> str:
    """A dry run writes nothing, migrations included: it needs the schema to be current."""
    return "require" if dry_run else "apply"


def _overall(reports: list[RunReport]) -> str:
    statuses = {report.status for report in reports}
    if statuses == {"ok"}:
        return "ok"
    if statuses == {"failed"}:
        return "failed"
    return "partial"
