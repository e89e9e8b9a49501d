"""ReadAhead: a paged listing read in a thread of its own, a few pages ahead of its reader."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from emerald_cli.engine.read_ahead import ReadAhead
from emerald_cli.sources.errors import ApiError


class Listing:
    """Pages of numbers; records which thread fetched them and how many, and can fail."""

    def __init__(self, pages: int, size: int = 3, fail_at: int | None = None) -> None:
        self.pages, self.size, self.fail_at = pages, size, fail_at
        self.fetched = 0
        self.threads: set[str] = set()

    def __iter__(self) -> Iterator[list[int]]:
        for number in range(self.pages):
            self.threads.add(threading.current_thread().name)
            if number == self.fail_at:
                raise ApiError(f"page {number} failed")
            self.fetched += 1
            yield [number * self.size + n for n in range(self.size)]


def test_rows_come_in_order_from_a_thread_of_their_own() -> None:
    listing = Listing(pages=5)
    reader = ReadAhead(listing)

    rows = list(reader)
    reader.close()

    assert rows == list(range(15))
    assert listing.threads == {"read-ahead"}
    assert not reader.fetching


def test_an_empty_listing_has_no_rows() -> None:
    reader = ReadAhead(Listing(pages=0))

    assert list(reader) == []
    reader.close()


def test_an_error_reaches_the_reader_after_the_pages_before_it() -> None:
    reader = ReadAhead(Listing(pages=5, fail_at=2))
    rows = []

    with pytest.raises(ApiError, match="page 2 failed"):
        rows.extend(reader)
    reader.close()

    assert rows == [0, 1, 2, 3, 4, 5]


def test_closing_early_stops_the_thread_a_few_pages_on() -> None:
    listing = Listing(pages=100)
    reader = ReadAhead(listing, depth=2)
    rows = iter(reader)

    first = next(rows)
    reader.close()

    assert first == 0
    assert not reader.fetching
    # The page being read, two queued behind it, and the one the thread held when told.
    assert listing.fetched <= 4
