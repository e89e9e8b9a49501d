"""`emerald sync ...`: one command per source, the same flags, output and exit codes for each."""

from __future__ import annotations

from typing import Annotated

import typer

from emerald_cli import console
from emerald_cli.commands.options import (
    STATUS_EXIT,
    DatabaseUrl,
    InventoryFile,
    JsonOutput,
    Verbose,
    exits_cleanly,
    prepare,
)
from emerald_cli.config import load_inventory
from emerald_cli.engine.database import open_store
from emerald_cli.engine.mikrotik import Progress, sync_mikrotik
from emerald_cli.engine.run import RunReport
from emerald_cli.errors import ConfigError

app = typer.Typer(help="Pull data from a source into the database.", no_args_is_help=True)


@app.command("mikrotik")
@exits_cleanly
def mikrotik(
    inventory: InventoryFile = None,
    only: Annotated[
        list[str] | None,
        typer.Option("--only", help="Poll only this router (repeat for more)."),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", min=1, help="Worker processes [env: EMERALD_WORKERS; default: cores]."
        ),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            min=0.1,
            help="Seconds per router for its whole poll, overriding the inventory "
            "[env: EMERALD_TIMEOUT].",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Poll and report what would change; write nothing.")
    ] = False,
    json_output: JsonOutput = False,
    database_url: DatabaseUrl = None,
    verbose: Verbose = False,
) -> None:
    """Poll the routers in parallel and store their PPP and queue tables."""
    settings = prepare(
        database_url=database_url,
        inventory=inventory,
        workers=workers,
        timeout=timeout,
        verbose=verbose,
        quiet=json_output,
    )
    if settings.inventory.value is None:
        raise ConfigError("no router inventory: pass --inventory FILE or set EMERALD_INVENTORY")
    routers = load_inventory(settings.inventory.value, settings.timeout.value).select(only or [])
    engine = open_store(settings.database_url.value)

    show = console.interactive(json_output)
    with console.router_progress(len(routers), show) as progress:
        run = sync_mikrotik(
            engine,
            routers,
            workers=settings.workers.value,
            dry_run=dry_run,
            progress=Progress(started=progress.started, finished=progress.finished),
        )
    finish(run.report, json_output)


def finish(report: RunReport, json_output: bool) -> None:
    """Print the report and leave with the exit code its status calls for."""
    if json_output:
        console.print_json(report.as_json())
    else:
        console.print_summary(report)
    raise typer.Exit(STATUS_EXIT.get(report.status, 1))
