"""What one snapshot write changed, added up per router, per target and per run."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class ChangeCounts:
    """Rows inserted, updated, unchanged and removed; e.g. ChangeCounts(inserted=3, removed=1)."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0

    def __add__(self, other: ChangeCounts) -> ChangeCounts:
        return ChangeCounts(
            inserted=self.inserted + other.inserted,
            updated=self.updated + other.updated,
            unchanged=self.unchanged + other.unchanged,
            removed=self.removed + other.removed,
        )

    @property
    def changed(self) -> int:
        """Rows whose stored state moved: what an operator wants to know first."""
        return self.inserted + self.updated + self.removed

    def as_dict(self) -> dict[str, int]:
        return asdict(self)
