"""What a normaliser hands over for one stream: the typed records and the raw ones left out.

Skipped rows are data, not log lines, so a sync run can count and show them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")
Raw = dict[str, Any]
# Told after each page of a listing: the records received so far, and how many the service
# announced (None when it announces no total). Called from the thread that reads the pages.
PageProgress = Callable[[int, int | None], None]


def no_progress(_received: int, _announced: int | None) -> None:
    """The PageProgress of a caller that shows none."""


@dataclass(frozen=True, slots=True)
class Skipped:
    """A raw record left out, and why: Skipped("nodes", "node 5 (SIN IP) has no IP", {})."""

    stream: str
    reason: str
    raw: Raw = field(repr=False)


@dataclass
class Normalised(Generic[T]):
    """Typed records of one stream and the raw ones that had to be left out."""

    records: list[T] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
