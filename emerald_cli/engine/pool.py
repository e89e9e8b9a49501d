"""Poll many routers at once: worker processes with threads, and deadlines kept by the parent.

Each worker process runs a few dozen poll threads, because a poll mostly waits on the network
while parsing and writing need a core: processes spread the CPU work, threads cover the
waiting. Each worker writes the routers it polled through an engine it opens itself; workers
are started with "spawn", so no database connection, engine or lock of the parent is ever
inherited. The parent alone decides when a router is late: a router still unanswered at its
deadline (plus a short grace) is reported as timed out whatever its worker is doing, and
workers still busy when the run ends are terminated rather than waited for.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from emerald_cli.engine.router_store import RouterWriter
from emerald_cli.errors import DatabaseError
from emerald_cli.logs import setup_worker_logging
from emerald_cli.sources.mikrotik.poll import PollResult, RouterTarget, poll_router
from emerald_cli.store.snapshot import ChangeCounts

logger = logging.getLogger(__name__)

GRACE_S = 2.0
# After Ctrl-C: how long workers may take to finish the routers in hand, and how long the queue
# must then stay quiet before their last results are all in.
STOP_WAIT_S = 3.0
LAST_WORDS_S = 0.5
THREADS_PER_WORKER = 64


@dataclass(frozen=True)
class WriteSettings:
    """Where the workers write what they polled: a URL, since engines never cross processes."""

    database_url: str = field(repr=False)
    dry_run: bool = False


@dataclass
class RouterOutcome:
    """One router's poll (its rows already written and dropped) and what the write changed."""

    result: PollResult
    counts: ChangeCounts = field(default_factory=ChangeCounts)
    detail: dict[str, Any] = field(default_factory=dict)
    database_error: str | None = None


@dataclass(frozen=True)
class PoolEvent:
    """Something the parent learned about a router: it started, or it is finished."""

    kind: str
    name: str
    outcome: RouterOutcome | None = None


def poll_fleet(
    targets: list[RouterTarget],
    workers: int,
    log_queue: Any,
    writes: WriteSettings,
    threads: int = THREADS_PER_WORKER,
) -> Iterator[PoolEvent]:
    """Yield a "started" and then exactly one "finished" event per target, as they happen.

    On Ctrl-C (raised while this waits, or thrown in with `throw(KeyboardInterrupt())` by a
    caller interrupted while handling an event), the workers are stopped and the routers they
    had finished are still yielded; then KeyboardInterrupt is raised.
    """
    if not targets:
        return

    context = multiprocessing.get_context("spawn")
    tasks = context.Queue()
    results = context.Queue()
    stopping = context.Event()
    for target in targets:
        tasks.put(target)

    count = max(1, min(workers, len(targets)))
    per_worker = max(1, min(threads, -(-len(targets) // count)))
    processes = [
        context.Process(
            target=_worker_main,
            args=(
                tasks,
                results,
                stopping,
                log_queue,
                logging.getLogger().level,
                per_worker,
                writes,
            ),
            name=f"emerald-poll-{number}",
            daemon=True,
        )
        for number in range(count)
    ]
    for process in processes:
        process.start()
        tasks.put(None)

    try:
        yield from _collect(targets, processes, results, stopping)
    finally:
        _stop(processes)


def _collect(
    targets: list[RouterTarget], processes: list[Any], results: Any, stopping: Any
) -> Iterator[PoolEvent]:
    by_name = {target.name: target for target in targets}
    deadlines: dict[str, float] = {}
    owners: dict[str, int] = {}
    pending = set(by_name)
    arrivals = _Receiver(results)

    try:
        while pending:
            try:
                arrived, (kind, name, pid, payload) = arrivals.inbox.get(timeout=0.2)
            except queue.Empty:
                arrived, kind = time.monotonic(), None

            if kind == "started" and name in pending:
                deadlines[name] = arrived + by_name[name].timeout + GRACE_S
                owners[name] = pid
                yield PoolEvent("started", name)
            elif kind == "writing" and name in pending and arrived <= deadlines.get(name, arrived):
                # Polled in time: the write that follows is bounded by the database.
                deadlines.pop(name, None)
            elif (
                kind == "finished" and name in pending and arrived <= deadlines.get(name, arrived)
            ):
                pending.discard(name)
                yield PoolEvent("finished", name, payload)

            if arrivals.inbox.empty():
                yield from _late(pending, deadlines, by_name, arrivals.received_until())
            if kind is None:
                # Only once the queue has been quiet: a finished worker's results may be in it.
                yield from _orphaned(pending, owners, processes)
    except KeyboardInterrupt:
        # Raised here, or thrown in by the caller that was interrupted (see poll_fleet).
        yield from _last_words(pending, processes, arrivals, stopping)
        raise
    finally:
        arrivals.stop()


def _last_words(
    pending: set[str], processes: list[Any], arrivals: _Receiver, stopping: Any
) -> Iterator[PoolEvent]:
    """On Ctrl-C: stop the workers, then hand over the routers they finished before that.

    A worker left running would go on with routers that no one records, and would keep the
    database busy while the run writes its history. Told to stop, a worker takes no new
    router and ends once the ones in hand are done, so that what it wrote it also reports;
    one still waiting on a router after STOP_WAIT_S is terminated, its write rolled back.
    """
    stopping.set()
    deadline = time.monotonic() + STOP_WAIT_S
    for process in processes:
        process.join(timeout=max(0.0, deadline - time.monotonic()))
    for process in processes:
        if process.is_alive():
            logger.debug("terminating busy worker %s", process.name)
            process.terminate()
            process.join(timeout=2)

    while True:
        try:
            _, (kind, name, _, payload) = arrivals.inbox.get(timeout=LAST_WORDS_S)
        except queue.Empty:
            return
        if kind == "finished" and name in pending:
            pending.discard(name)
            yield PoolEvent("finished", name, payload)


class _Receiver:
    """Takes messages off the pool's queue the moment they arrive, stamped with that moment.

    The parent may be busy writing one router for seconds; judging lateness by when a result
    arrived, not by when the parent got round to it, keeps a busy writer from timing out
    routers that answered in time.
    """

    def __init__(self, results: Any) -> None:
        self.results = results
        self.inbox: queue.Queue[tuple[float, tuple[str, str, int, Any]]] = queue.Queue()
        self._stopped = threading.Event()
        self._quiet_since = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="pool-receiver", daemon=True)
        self._thread.start()

    def received_until(self) -> float:
        """Every message sent before this moment is in the inbox already."""
        return self._quiet_since

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=1)

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                message = self.results.get(timeout=0.1)
            except queue.Empty:
                self._quiet_since = time.monotonic()
                continue
            except (EOFError, OSError):
                return
            self.inbox.put((time.monotonic(), message))


def _late(
    pending: set[str],
    deadlines: dict[str, float],
    by_name: dict[str, RouterTarget],
    received_until: float,
) -> Iterator[PoolEvent]:
    """Routers past their deadline with no result, counting only results known to be in."""
    now = min(time.monotonic(), received_until)
    for name in [name for name in pending if deadlines.get(name, now + 1) < now]:
        pending.discard(name)
        timeout = by_name[name].timeout
        logger.warning("router=%s status=timeout cut by the run after %.1fs", name, timeout)
        result = PollResult(
            name=name,
            status="timeout",
            error=f"no complete answer within the {timeout:g}s deadline",
            attempts=1,
            duration_s=timeout,
        )
        yield PoolEvent("finished", name, RouterOutcome(result))


def _orphaned(
    pending: set[str], owners: dict[str, int], processes: list[Any]
) -> Iterator[PoolEvent]:
    """Routers whose worker died mid-poll, or left waiting with no worker alive to take them."""
    dead = {process.pid for process in processes if process.exitcode not in (None, 0)}
    everyone_gone = all(process.exitcode is not None for process in processes)

    for name in list(pending):
        if not everyone_gone and owners.get(name) not in dead:
            continue
        pending.discard(name)
        logger.error("router=%s status=crashed its worker process ended", name)
        result = PollResult(name=name, status="crashed", error="the worker polling it died")
        yield PoolEvent("finished", name, RouterOutcome(result))


def _stop(processes: list[Any]) -> None:
    for process in processes:
        process.join(timeout=0.5)
    for process in processes:
        if process.is_alive():
            logger.debug("terminating busy worker %s", process.name)
            process.terminate()
            process.join(timeout=2)


def _worker_main(
    tasks: Any,
    results: Any,
    stopping: Any,
    log_queue: Any,
    level: int,
    threads: int,
    writes: WriteSettings,
) -> None:
    """Entry point of a worker process: poll and write what the queue hands out until told."""
    # Ctrl-C reaches the whole process group; only the parent decides what it means.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    setup_worker_logging(log_queue, level)
    pid = os.getpid()
    lock = threading.Lock()
    writer = RouterWriter(writes.database_url, writes.dry_run)

    def send(kind: str, name: str, payload: RouterOutcome | None) -> None:
        with lock:
            results.put((kind, name, pid, payload))

    try:
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="poll") as executor:
            for _ in range(threads):
                executor.submit(_poll_loop, tasks, stopping, send, writer)
    finally:
        writer.close()


def _poll_loop(
    tasks: Any,
    stopping: Any,
    send: Callable[[str, str, RouterOutcome | None], None],
    writer: RouterWriter,
) -> None:
    while not stopping.is_set():
        target = tasks.get()
        if target is None:
            tasks.put(None)  # leave the stop mark for this worker's other threads
            return

        send("started", target.name, None)
        result = poll_router(target)
        outcome = RouterOutcome(result)
        if result.ok:
            send("writing", target.name, None)
            try:
                outcome.counts, outcome.detail = writer.write(result)
            except DatabaseError as error:
                outcome.database_error = str(error)
            except Exception as error:
                # The router's boundary: a fault writing it is that router's, and the thread
                # must live on to poll the next one.
                logger.exception("router=%s status=crashed while writing", target.name)
                result.status, result.error = "crashed", f"{type(error).__name__}: {error}"
        result.tables = {}

        logger.info(
            "router=%s status=%s attempts=%d duration=%.2fs%s",
            target.name,
            result.status,
            result.attempts,
            result.duration_s,
            f" error={result.error}" if result.error else "",
        )
        send("finished", target.name, outcome)
