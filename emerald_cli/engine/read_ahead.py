"""Read a paged listing in a thread of its own, a few pages ahead of the code using it.

Typing a page of customers or ONUs takes about as long as the service takes to send the next
one, so the two can overlap: while the main thread normalises page N, the reader thread waits
for page N+1. The thread is the only user of the client while the listing is read, and
close() waits for it, so the client is free again before the next stream uses it.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")

# How often a reader blocked on a full queue looks whether it was told to stop.
STOP_CHECK_S = 0.1


class ReadAhead(Generic[T]):
    """The rows of `pages`, in order; the pages are fetched up to `depth` ahead.

    An error raised while fetching is raised here, where the rows are read, after the rows of
    the pages before it. Iterate once.
    """

    def __init__(self, pages: Iterable[list[T]], depth: int = 2) -> None:
        self._pages = pages
        self._queue: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._fetch, name="read-ahead", daemon=True)
        self._thread.start()

    def __iter__(self) -> Iterator[T]:
        while True:
            kind, item = self._queue.get()
            if kind == "end":
                return
            if kind == "error":
                assert isinstance(item, BaseException)
                raise item
            yield from item  # type: ignore[misc]

    @property
    def fetching(self) -> bool:
        """Whether the thread is still at work (it ends at the listing's end or on close)."""
        return self._thread.is_alive()

    def close(self, wait: bool = True) -> None:
        """Stop fetching after the page in flight; with `wait`, until the thread is done.

        A request in flight ends within the client's own deadline, so the wait is bounded.
        Without `wait` (the run is being interrupted) the thread is left to die with it.
        """
        self._stop.set()
        if wait:
            self._thread.join()

    def _fetch(self) -> None:
        try:
            for page in self._pages:
                if not self._put("page", page):
                    return
        except Exception as error:  # raised again in the reading thread
            self._put("error", error)
            return
        self._put("end", None)

    def _put(self, kind: str, item: object) -> bool:
        """Queue an item, unless told to stop first: a full queue must not hold the thread."""
        while not self._stop.is_set():
            try:
                self._queue.put((kind, item), timeout=STOP_CHECK_S)
            except queue.Full:
                continue
            return True
        logger.debug("read-ahead stopped before the listing ended")
        return False
