"""`emerald runs`: the run history, so anyone can see what changed, what failed and why."""

from __future__ import annotations

from operator import itemgetter
from typing import Annotated, Any

import sqlalchemy as sa
import typer
from rich.markup import escape
from rich.table import Table

from emerald_cli import console
from emerald_cli.commands.options import DatabaseUrl, JsonOutput, exits_cleanly, prepare
from emerald_cli.engine.database import open_store
from emerald_cli.engine.run import in_display_order
from emerald_cli.errors import UsageError
from emerald_cli.store import runs as store_runs
from emerald_cli.store.errors import SchemaOutdated
from emerald_cli.store.statuses import RUN_SOURCES

app = typer.Typer(
    rich_markup_mode=None, help="List recent sync runs, or show one with its targets."
)

COUNT_KEYS = ("inserted", "updated", "unchanged", "removed")
NO_TABLES = "the database has no emerald tables yet; run a sync or `emerald db upgrade`"


@app.callback(invoke_without_command=True)
@exits_cleanly
def list_runs(
    context: typer.Context,
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many runs.")] = 20,
    source: Annotated[str | None, typer.Option("--source", help="Only this source.")] = None,
    json_output: JsonOutput = False,
    database_url: DatabaseUrl = None,
) -> None:
    """List recent runs, newest first."""
    if context.invoked_subcommand is not None:
        _refuse_list_options(context)
        return
    if source is not None and source not in RUN_SOURCES:
        raise UsageError(f"--source {source!r}: the sources are {', '.join(RUN_SOURCES)}")
    settings = prepare(database_url=database_url, quiet=json_output)
    history = _history(settings.database_url.value)
    rows = [] if history is None else store_runs.list_runs(history, limit=limit, source=source)
    if history is None:
        console.note(f"no runs recorded: {NO_TABLES}")

    if json_output:
        console.print_json([_run_json(row) for row in rows])
        return
    table = Table(title="sync runs")
    for header in ("id", "source", "trigger", "status", "started", "finished"):
        table.add_column(header)
    for header in COUNT_KEYS:
        table.add_column(header, justify="right")
    for row in rows:
        table.add_row(
            str(row["id"]),
            row["source"],
            row["trigger"],
            row["status"],
            _time(row.get("started_at")),
            _time(row.get("finished_at")),
            *(str(row.get(key) or 0) for key in COUNT_KEYS),
        )
    console.data.print(table)


def _refuse_list_options(context: typer.Context) -> None:
    """--limit and --source choose the runs to list: before `runs show` they would be ignored,
    and a run shown whatever they say would mislead."""
    for name, flag in (("limit", "--limit"), ("source", "--source")):
        given = context.get_parameter_source(name)
        # By name: Typer vendors Click's ParameterSource privately in newer releases.
        if given is not None and given.name != "DEFAULT":
            raise UsageError(
                f"{flag} chooses the runs to list: `runs {context.invoked_subcommand}` takes "
                f"none; leave {flag} out"
            )


@app.command("show")
@exits_cleanly
def show_run(
    context: typer.Context,
    run_id: Annotated[
        int, typer.Argument(min=1, max=2**31 - 1, help="The run's id, from `emerald runs`.")
    ],
    json_output: JsonOutput = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Show one run and every router or stream in it."""
    # `runs --json show 12` means what `runs show 12 --json` does; so does --database-url.
    given_to_runs = context.parent.params if context.parent else {}
    json_output = json_output or given_to_runs.get("json_output", False)
    database_url = database_url or given_to_runs.get("database_url")
    settings = prepare(database_url=database_url, quiet=json_output)
    history = _history(settings.database_url.value)
    run = None if history is None else store_runs.get_run(history, run_id)
    if run is None:
        why = NO_TABLES if history is None else "`emerald runs` lists them"
        raise UsageError(f"no run with id {run_id}: {why}")

    if json_output:
        console.print_json(_run_json(run))
        return
    console.data.print(
        f"run {run['id']}  {run['source']}  {run['status']}  trigger={run['trigger']}  "
        f"started={_time(run.get('started_at'))}  finished={_time(run.get('finished_at'))}"
    )
    if run.get("error"):
        console.data.print(f"error: {run['error']}", markup=False, highlight=False)
    table = Table()
    for header in ("target", "status"):
        table.add_column(header)
    for header in ("tries", "seconds", *COUNT_KEYS):
        table.add_column(header, justify="right")
    table.add_column("error", overflow="fold")
    targets = run.get("targets", [])
    for target in in_display_order(targets, itemgetter("kind"), itemgetter("name")):
        table.add_row(
            escape(target["name"]),
            target["status"],
            str(target.get("attempts") or 0),
            f"{target.get('duration_s') or 0:.2f}",
            *(str(target.get(key) or 0) for key in COUNT_KEYS),
            escape(target.get("error") or ""),
        )
    console.data.print(table)


def _history(database_url: str) -> sa.Engine | None:
    """The store to read runs from; None when the database has no emerald tables at all. A
    read creates and migrates nothing: a mistyped URL, or one naming the ERP's own database,
    must not get a whole schema from it; a schema that is behind asks for `db upgrade`."""
    try:
        return open_store(database_url, schema="require")
    except SchemaOutdated as outdated:
        if outdated.current is not None:
            raise
        return None


def _time(value: Any) -> str:
    return value.isoformat(timespec="seconds") if hasattr(value, "isoformat") else str(value or "")


def _run_json(row: dict[str, Any]) -> dict[str, Any]:
    """A stored run with the keys `sync --json` printed for it (RunReport.as_json), so one
    parser reads both; then what only the history knows: heartbeat, host and pid."""
    run = {
        "run_id": row["id"],
        **{key: row[key] for key in ("source", "trigger", "status", "dry_run")},
        "started_at": _iso(row["started_at"]),
        "finished_at": _iso(row["finished_at"]),
        "error": row["error"],
        "counts": {key: row[key] or 0 for key in COUNT_KEYS},
    }
    if "targets" in row:
        run["targets"] = [
            _target_json(target) for target in sorted(row["targets"], key=lambda t: t["name"])
        ]
    run.update(heartbeat_at=_iso(row["heartbeat_at"]), host=row["host"], pid=row["pid"])
    return run


def _target_json(row: dict[str, Any]) -> dict[str, Any]:
    """A stored target with the keys of TargetReport.as_json."""
    return {
        **{key: row[key] for key in ("name", "kind", "status", "error", "attempts")},
        "duration_s": row["duration_s"],
        "counts": {key: row[key] or 0 for key in COUNT_KEYS},
        "detail": row["detail"],
        "retry_after": _iso(row["retry_after"]),
    }


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
