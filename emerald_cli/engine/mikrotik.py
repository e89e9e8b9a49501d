"""`sync mikrotik`: poll the fleet in the pool and write each router as soon as it answers.

Each router's rows are written in one transaction of their own, so a reader sees a router
either as it was or as it is now, and a router whose poll failed is not touched at all. The
worker that polled a router writes it (`router_store`); this process keeps the run's history,
and checks once, before polling, that no target would take over a node's router.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
from collections.abc import Generator

import sqlalchemy as sa

from emerald_cli.engine.pool import PoolEvent, WriteSettings, poll_fleet
from emerald_cli.engine.run import Progress, SyncRun, TargetReport
from emerald_cli.errors import DatabaseError
from emerald_cli.logs import REDACTOR, listen_to_workers
from emerald_cli.sources.errors import DataError
from emerald_cli.sources.mikrotik.poll import RouterTarget
from emerald_cli.store.routers import node_routers

logger = logging.getLogger(__name__)

SOURCE = "mikrotik"


def sync_mikrotik(
    engine: sa.Engine,
    targets: list[RouterTarget],
    *,
    workers: int,
    trigger: str = "cli",
    dry_run: bool = False,
    progress: Progress | None = None,
) -> SyncRun:
    """Poll `targets` and store what they hold; returns the finished run with its report."""
    progress = progress or Progress()
    for target in targets:
        REDACTOR.add(target.password)

    log_queue = multiprocessing.get_context("spawn").Queue()
    listener = listen_to_workers(log_queue)
    try:
        with SyncRun(engine, SOURCE, trigger, dry_run=dry_run) as run:
            pollable = _refuse_takeovers(run, engine, targets, progress)
            writes = WriteSettings(engine.url.render_as_string(hide_password=False), dry_run)
            _follow(run, poll_fleet(pollable, workers, log_queue, writes), progress)
    finally:
        listener.stop()
    return run


def _refuse_takeovers(
    run: SyncRun, engine: sa.Engine, targets: list[RouterTarget], progress: Progress
) -> list[RouterTarget]:
    """The targets that may be polled: not one named like a node's router at another address.

    A poll writes its router by name, so such a target would move the node's router to the
    other device and store that device's rows in its history. It is recorded failed instead,
    unpolled; a target at the node router's own address is that device, and is polled.
    """
    with engine.connect() as conn:
        nodes = {router.name: router for router in node_routers(conn)}

    pollable = []
    for target in targets:
        node = nodes.get(target.name)
        if node is None or (node.host, node.port) == (target.host, target.port):
            pollable.append(target)
            continue
        # data_error: the inventory and ISPCube disagree on which device this name is. The
        # router and the network are not at fault (unreachable, timeout, protocol_error),
        # nor is a vendor (api_error), and no retry can help: someone must correct the data.
        error = DataError(
            f"{target.name} is {target.host}:{target.port} in the inventory but "
            f"{node.host}:{node.port} as the router of ISPCube node {node.node_id}: not polled, "
            "not to mix two devices; rename the router in the inventory file, or correct node "
            f"{node.node_id} in ISPCube"
        )
        logger.warning("router=%s status=%s %s", target.name, error.status, error)
        report = TargetReport(name=target.name, status=error.status, error=str(error))
        run.record(report)
        progress.finished(report)
    return pollable


def _follow(run: SyncRun, events: Generator[PoolEvent, None, None], progress: Progress) -> None:
    """Handle the pool's events; after Ctrl-C, the routers finished before it still count.

    Ctrl-C often lands while a router's target is being recorded (SQLite makes that wait for
    the workers' writes); that record is made again, and the pool, told of the interrupt,
    stops its workers and hands over the routers they had finished.
    """
    handling: PoolEvent | None = None
    try:
        for event in events:
            handling = event
            _handle(run, event, progress)
            handling = None
    except KeyboardInterrupt:
        pass
    else:
        return

    leftovers: list[PoolEvent] = []
    with contextlib.suppress(KeyboardInterrupt, StopIteration):
        leftovers.append(events.throw(KeyboardInterrupt()))
        while True:
            leftovers.append(next(events))
    recorded = {target.name for target in run.report.targets}
    if handling is not None and handling.kind == "finished" and handling.name not in recorded:
        leftovers.insert(0, handling)
    for event in leftovers:
        _handle(run, event, progress)
    raise KeyboardInterrupt


def _handle(run: SyncRun, event: PoolEvent, progress: Progress) -> None:
    if event.kind == "started":
        progress.started(event.name)
        return

    outcome = event.outcome
    assert outcome is not None
    if outcome.database_error is not None:
        raise DatabaseError(outcome.database_error)

    result = outcome.result
    report = TargetReport(
        name=result.name,
        status=result.status,
        error=result.error,
        attempts=result.attempts,
        duration_s=result.duration_s,
        counts=outcome.counts,
        detail=outcome.detail,
    )
    if result.skipped:
        report.error = "; ".join(f"{table}: {why}" for table, why in result.skipped.items())

    run.record(report)
    progress.finished(report)
