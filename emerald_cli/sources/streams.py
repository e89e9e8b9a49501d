"""What a normaliser hands over for one stream: the typed records and the raw ones left out.

Skipped rows are data, not log lines, so a sync run can count and show them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")
Raw = dict[str, Any]


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
