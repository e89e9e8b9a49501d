"""The one terminal object: progress and messages to stderr, tables and JSON to stdout.

Only the parent process touches the terminal. Progress appears only when stderr is a
terminal and JSON was not asked for, so scripts and cron get clean, quiet output.
"""

from __future__ import annotations

import io
import json
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from operator import attrgetter
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from emerald_cli.engine.run import RunReport, TargetReport, in_display_order


class _Stdout(io.TextIOBase):
    """sys.stdout (whatever it is at the time), except that a reader gone away is no error.

    `emerald sync ispcube | head -1` has synced and recorded its run by the time it prints;
    failing then would tell a script that nothing was synced. What is left goes nowhere.
    """

    def write(self, text: str) -> int:
        try:
            return sys.stdout.write(text)
        except BrokenPipeError:
            _discard_stdout()
            return len(text)

    def flush(self) -> None:
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            _discard_stdout()

    def isatty(self) -> bool:
        return sys.stdout.isatty()

    def fileno(self) -> int:
        return sys.stdout.fileno()


def _discard_stdout() -> None:
    # Point the descriptor at /dev/null, so that Python's own flush at exit cannot fail too.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


STDOUT = _Stdout()
people = Console(stderr=True, highlight=False, emoji=False)  # ":x:" in a message is text
# Piped tables get room to breathe instead of Rich's default 80 columns.
data = Console(
    file=STDOUT, highlight=False, emoji=False, width=None if sys.stdout.isatty() else 160
)
# Below this width the error column of a summary would squeeze the names out of sight.
ERRORS_IN_TABLE_MIN_WIDTH = 120

STATUS_STYLE = {
    "ok": "green",
    "partial": "yellow",
    "failed": "red",
    "running": "cyan",
    "interrupted": "magenta",
}


def error(message: str) -> None:
    people.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def warning(message: str) -> None:
    people.print(f"[bold yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)


def note(message: str) -> None:
    people.print(message, markup=False, soft_wrap=True)


def print_json(document: Any) -> None:
    STDOUT.write(json.dumps(document, ensure_ascii=False, default=str) + "\n")
    STDOUT.flush()


def interactive(json_output: bool) -> bool:
    return not json_output and people.is_terminal


class TargetProgress:
    """One spinner line per router or stream at work, one result line per one finished.

    A stream's paged listing moves its line on (records read, of how many when the source
    says), from the thread that reads it: that may start before the stream's turn to be
    written comes, so whichever of `started` and `read` comes first makes the line.
    """

    def __init__(self, progress: Progress | None, total: int, label: str) -> None:
        self.progress = progress
        self.tasks: dict[str, Any] = {}
        self.done: set[str] = set()
        self.overall = progress.add_task(label, total=total) if progress else None
        self._lock = threading.Lock()

    def started(self, name: str) -> None:
        if self.progress is not None:
            with self._lock:
                self._task(self.progress, name)

    def read(self, name: str, records: int, announced: int | None) -> None:
        if self.progress is None:
            return
        with self._lock:
            if name not in self.done:  # a listing left behind by Ctrl-C may still report
                task = self._task(self.progress, name)
                self.progress.update(task, completed=records, total=announced)

    def finished(self, report: TargetReport) -> None:
        if self.progress is None:
            return
        with self._lock:
            self.done.add(report.name)
            task = self.tasks.pop(report.name, None)
        if task is not None:
            self.progress.remove_task(task)
        self.progress.advance(self.overall)
        style = "green" if report.status == "ok" else "red"
        why = f"  {report.error}" if report.error else ""
        self.progress.console.print(
            f"[{style}]{report.status:<14}[/] {escape(report.name)}{escape(why)}",
            markup=True,
            highlight=False,
        )

    def _task(self, progress: Progress, name: str) -> Any:
        """The line of `name`, made on first use; called with the lock held."""
        if name not in self.tasks:
            self.tasks[name] = progress.add_task(f"  {escape(name)}", total=None)
        return self.tasks[name]


@contextmanager
def target_progress(total: int, enabled: bool, label: str = "routers") -> Iterator[TargetProgress]:
    if not enabled:
        yield TargetProgress(None, total, label)
        return

    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=people, transient=True) as progress:
        yield TargetProgress(progress, total, label)


def print_summary(report: RunReport) -> None:
    """The human summary of a run: one row per target, then the totals."""
    targets = in_display_order(report.targets, attrgetter("kind"), attrgetter("name"))
    errors_below = data.width < ERRORS_IN_TABLE_MIN_WIDTH
    title = f"{report.source} sync" + (" (dry run)" if report.dry_run else "")
    # Which target and how it ended are never cut. On a narrow terminal the table loses its
    # inner rules and the errors follow it, one line each, instead of a column folded a few
    # letters wide: 80 columns then hold every count of a short-named target.
    table = (
        Table(title=title, box=box.SIMPLE_HEAD, padding=(0, 1, 0, 0), pad_edge=False)
        if errors_below
        else Table(title=title)
    )
    for header, values in (
        ("target", [target.name for target in targets]),
        ("status", [target.status for target in targets]),
    ):
        table.add_column(header, no_wrap=True, min_width=max(map(len, [header, *values])))
    for header in ("tries", "seconds"):
        table.add_column(header, no_wrap=True, min_width=len(header))
    for header in ("inserted", "updated", "unchanged", "removed"):
        table.add_column(header, justify="right", no_wrap=True, min_width=len(header))
    if not errors_below:
        table.add_column("error", overflow="fold")

    for target in targets:
        counts = target.counts.as_dict()
        cells = [
            escape(target.name),
            f"[{'green' if target.status == 'ok' else 'red'}]{target.status}[/]",
            str(target.attempts),
            f"{target.duration_s:.2f}",
            *(str(counts[key]) for key in ("inserted", "updated", "unchanged", "removed")),
        ]
        table.add_row(*cells, *([] if errors_below else [escape(target.error or "")]))
    data.print(table)
    if errors_below:
        for target in targets:
            if target.error:
                data.print(f"{target.name}: {target.error}", markup=False, soft_wrap=True)

    totals = report.counts.as_dict()
    run = f"run {report.run_id}" if report.run_id is not None else "dry run, nothing written"
    style = STATUS_STYLE.get(report.status, "white")
    data.print(
        f"[{style}]{report.status}[/] ({run}): "
        + ", ".join(f"{value} {key}" for key, value in totals.items())
    )


def run_name(report: RunReport) -> str:
    """`run 12`, what `emerald runs show` takes; a dry run has no id, so its source."""
    if report.run_id is None:
        return f"{report.source} dry run"
    return f"run {report.run_id}"


def print_run_ended(report: RunReport) -> None:
    """One stderr line for a run that ended failed or partial, saying why: a cron job that
    discards stdout still learns it. An ok run says nothing more."""
    if report.status != "ok":
        print_ended(report.status, f"{run_name(report)} {report.status}: {report.error}")


def print_ended(status: str, message: str) -> None:
    """`error: …` for what failed, `warning: …` for what was done in part."""
    (error if status == "failed" else warning)(message)


def print_overall(status: str, runs: int) -> None:
    """The last line of `sync all`: one status for its runs, the one its exit code follows."""
    style = STATUS_STYLE.get(status, "white")
    data.print(f"all sources: [{style}]{status}[/] ({runs} runs)")
