"""SmartOLT's hourly call budget, counted from the run history, so frequent polling fits in it.

SmartOLT allows an account about 1,000 calls an hour (more on request) and a few full exports,
and may revoke API access after misuse. Its refusals say that a limit was hit, never how much
is left; the run history does, since every stream records the requests it sent. A run that
would not fit in what is left of the last hour leaves out the inventory (the OLTs and the ONU
listing, a call per page of ONUs) and still reads statuses and signals, two calls, which
operators want every few minutes; the inventory an earlier run stored stays as it was. Only the
streams a run was asked for (`--only`) are counted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from emerald_cli.sources.http import CallAllowance
from emerald_cli.store.runs import RecentTarget

logger = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
INVENTORY = ("olts", "onus")
LEVELS = ("onu_statuses", "onu_signals")
LEVEL_WORDS = {"onu_statuses": "statuses", "onu_signals": "signals"}
SETTING = "[smartolt] calls_per_hour"


@dataclass(frozen=True)
class Spent:
    """What the source's runs of the last hour sent, run by run: (ended_at, calls, full
    exports), oldest first, so that it is known when each leaves the hour."""

    now: datetime
    runs: tuple[tuple[datetime, int, int], ...]

    @property
    def calls(self) -> int:
        return sum(calls for _, calls, _ in self.runs)

    @property
    def full_exports(self) -> int:
        return sum(exports for _, _, exports in self.runs)


@dataclass(frozen=True)
class CallPlan:
    """Which streams this run leaves out and why, and how many calls it may send at most.

    CallPlan(skipped=("olts", "onus"), reason="the inventory needs about 103 calls and 40 of
    the hourly 1,000 are left ([smartolt] calls_per_hour)", retry_after=..., allowance=...)
    """

    skipped: tuple[str, ...]
    reason: str | None
    retry_after: datetime | None
    allowance: CallAllowance


def spent_from(now: datetime, targets: Iterable[RecentTarget]) -> Spent:
    """Sum the requests each recent run's streams recorded."""
    runs: dict[datetime, list[int]] = {}
    for target in targets:
        spent = runs.setdefault(target.run_ended_at, [0, 0])
        spent[0] += int(target.detail.get("requests") or 0)
        exported = target.name == "onus" and target.detail.get("full_export")
        spent[1] += 1 if exported and target.detail.get("requests") else 0
    return Spent(
        now, tuple((started, calls, exports) for started, (calls, exports) in runs.items())
    )


def plan_calls(
    spent: Spent,
    *,
    calls_per_hour: int,
    full_exports_per_hour: int,
    costs: Mapping[str, int],
    full_export: bool,
) -> CallPlan:
    """Every stream of `costs` (the calls each is expected to cost, in reading order: the
    streams this run was asked for) if they fit in what is left of the hour; else the statuses
    and signals among them alone, if those fit; else nothing."""
    left = max(calls_per_hour - spent.calls, 0)
    inventory = tuple(name for name in costs if name in INVENTORY)
    inventory_calls = sum(costs[name] for name in inventory)
    levels = [name for name in costs if name in LEVELS]
    level_calls = sum(costs[name] for name in levels)
    kept = "the stored inventory is kept"
    if levels:
        kept += f", {' and '.join(LEVEL_WORDS[name] for name in levels)} are read"
    # A run that sends all it may can call again once the oldest calls counted leave the hour
    # (its own, an hour from now, if no earlier run sent any).
    oldest = next((ended for ended, calls, _ in spent.runs if calls), spent.now)
    allowance = CallAllowance(left, oldest + HOUR, SETTING)

    def plan(
        skipped: tuple[str, ...], reason: str | None, retry_after: datetime | None
    ) -> CallPlan:
        return CallPlan(skipped, reason, retry_after, allowance)

    if level_calls > left:
        reason = (
            f"all {calls_per_hour:,} calls of the hour are spent ({SETTING}): "
            "the stored data is kept"
        )
        return plan(tuple(costs), reason, _renews_at(spent, calls_per_hour, level_calls))

    if full_export and "onus" in costs and spent.full_exports >= full_exports_per_hour:
        reason = (
            f"the full ONU export was used {spent.full_exports} times in the last hour "
            f"([smartolt] full_exports_per_hour = {full_exports_per_hour}): {kept}"
        )
        return plan(inventory, reason, _export_renews_at(spent, full_exports_per_hour))

    if inventory_calls + level_calls > left:
        reason = (
            f"the inventory needs about {inventory_calls:,} call{'s' * (inventory_calls != 1)} "
            f"and {left:,} of the hourly {calls_per_hour:,} are left ({SETTING}): {kept}"
        )
        return plan(
            inventory, reason, _renews_at(spent, calls_per_hour, inventory_calls + level_calls)
        )

    return plan((), None, None)


def _renews_at(spent: Spent, calls_per_hour: int, needed: int) -> datetime | None:
    """When enough of the calls counted now have left the hour for `needed` more; None if
    that never happens (one run needs more than the whole budget)."""
    if needed > calls_per_hour:
        return None

    counted = spent.calls
    if calls_per_hour - counted >= needed:
        return spent.now
    for started, calls, _ in spent.runs:
        counted -= calls
        if calls_per_hour - counted >= needed:
            return started + HOUR
    return None


def _export_renews_at(spent: Spent, full_exports_per_hour: int) -> datetime | None:
    exports = [started for started, _, count in spent.runs for _ in range(count)]
    surplus = len(exports) - full_exports_per_hour
    return exports[surplus] + HOUR if 0 <= surplus < len(exports) else None
