"""The `emerald` command: registers each command group; the groups live in `commands/`."""

from __future__ import annotations

import signal
from types import FrameType

import typer

from emerald_cli.commands import config, db, lab, runs, sync

app = typer.Typer(
    rich_markup_mode=None,
    name="emerald",
    help="Sync MikroTik routers, ISPCube and SmartOLT into the Emerald ERP database.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)
app.add_typer(sync.app, name="sync")
app.add_typer(runs.app, name="runs")
app.add_typer(db.app, name="db")
app.add_typer(config.app, name="config")
app.add_typer(lab.app, name="lab")
app.command("demo")(lab.demo)


def main() -> None:
    # supervisord and `docker stop` send SIGTERM: stop the way Ctrl-C does, so the run is
    # recorded as interrupted and its lock released instead of going stale.
    signal.signal(signal.SIGTERM, _interrupt)
    app()


def _interrupt(_number: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt
