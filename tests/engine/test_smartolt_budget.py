"""SmartOLT's hourly call budget: the plan from the run history, and an hour of 5-minute polls."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from emerald_cli.accounts import SmartOLTAccount
from emerald_cli.engine.smartolt import sync_smartolt
from emerald_cli.engine.smartolt_budget import HOUR, CallPlan, Spent, plan_calls, spent_from
from emerald_cli.lab.billing import build_billing
from emerald_cli.lab.dataset import build_fleet
from emerald_cli.lab.smartolt import SmartOLTLab
from emerald_cli.sources.errors import RateLimited
from emerald_cli.sources.http import CallAllowance
from emerald_cli.sources.smartolt import SmartOLTClient
from emerald_cli.store import schema
from emerald_cli.store.runs import RecentTarget

NOW = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)
TOKEN = "lab-token"


def minutes_ago(minutes: int) -> datetime:
    return NOW - timedelta(minutes=minutes)


def plan(
    spent: Spent,
    *,
    inventory_calls: int = 90,
    full_export: bool = False,
    streams: tuple[str, ...] = ("olts", "onus", "onu_statuses", "onu_signals"),
) -> CallPlan:
    """The plan for the streams, the OLTs and the ONU listing costing `inventory_calls`."""
    costs = {"olts": 1, "onus": inventory_calls - 1, "onu_statuses": 1, "onu_signals": 1}
    return plan_calls(
        spent,
        calls_per_hour=1000,
        full_exports_per_hour=3,
        costs={name: costs[name] for name in streams},
        full_export=full_export,
    )


def test_the_calls_of_each_recent_run_are_summed() -> None:
    targets = [
        RecentTarget(minutes_ago(50), "olts", {"requests": 1}),
        RecentTarget(minutes_ago(50), "onus", {"requests": 89, "full_export": False}),
        RecentTarget(minutes_ago(50), "onu_statuses", {"requests": 2, "retries": 1}),
        RecentTarget(minutes_ago(20), "onus", {"requests": 1, "full_export": True}),
        RecentTarget(minutes_ago(20), "onu_signals", {}),
        # A full export refused before it was sent spends nothing.
        RecentTarget(minutes_ago(10), "onus", {"requests": 0, "full_export": True}),
    ]

    spent = spent_from(NOW, targets)

    assert spent.runs == (
        (minutes_ago(50), 92, 0),
        (minutes_ago(20), 1, 1),
        (minutes_ago(10), 0, 0),
    )
    assert (spent.calls, spent.full_exports) == (93, 1)


def test_a_run_that_fits_calls_everything() -> None:
    spent = Spent(NOW, ((minutes_ago(30), 900, 0),))

    assert plan(spent, inventory_calls=98) == CallPlan(
        skipped=(),
        reason=None,
        retry_after=None,
        allowance=CallAllowance(
            100, minutes_ago(30) + timedelta(hours=1), "[smartolt] calls_per_hour"
        ),
    )


def test_a_run_that_does_not_fit_reads_statuses_and_signals_only() -> None:
    spent = Spent(NOW, ((minutes_ago(50), 92, 0), (minutes_ago(40), 850, 0)))

    planned = plan(spent, inventory_calls=90)

    assert planned.skipped == ("olts", "onus")
    assert planned.reason == (
        "the inventory needs about 90 calls and 58 of the hourly 1,000 are left "
        "([smartolt] calls_per_hour): the stored inventory is kept, statuses and signals are read"
    )
    # 92 more calls are needed; the run of 50 minutes ago frees 92 when it leaves the hour.
    assert planned.retry_after == minutes_ago(50) + timedelta(hours=1)
    assert planned.allowance.calls == 58


def test_a_spent_hour_calls_nothing() -> None:
    spent = Spent(NOW, ((minutes_ago(45), 999, 0),))

    planned = plan(spent)

    assert planned.skipped == ("olts", "onus", "onu_statuses", "onu_signals")
    assert planned.retry_after == minutes_ago(45) + timedelta(hours=1)
    assert planned.allowance.calls == 1


def test_full_exports_are_counted_against_their_own_limit() -> None:
    spent = Spent(NOW, tuple((minutes_ago(m), 4, 1) for m in (40, 30, 20)))

    planned = plan(spent, inventory_calls=2, full_export=True)

    assert planned.skipped == ("olts", "onus")
    assert "full ONU export was used 3 times" in (planned.reason or "")
    assert planned.retry_after == minutes_ago(40) + timedelta(hours=1)


def test_a_budget_smaller_than_one_run_names_no_time() -> None:
    planned = plan_calls(
        Spent(NOW, ()),
        calls_per_hour=50,
        full_exports_per_hour=3,
        costs={"olts": 1, "onus": 89, "onu_statuses": 1, "onu_signals": 1},
        full_export=False,
    )

    assert (planned.skipped, planned.retry_after) == (("olts", "onus"), None)


def test_only_the_streams_asked_for_are_counted() -> None:
    """Statuses and signals every few minutes (--only) fit where a whole run would not; the
    ONU listing alone is left out saying what it needs, and that nothing else is read."""
    spent = Spent(NOW, ((minutes_ago(50), 92, 0), (minutes_ago(40), 850, 0)))
    levels = ("onu_statuses", "onu_signals")

    assert plan(spent, streams=levels).skipped == ()
    listing = plan(spent, streams=("onus",))
    assert (listing.skipped, listing.reason) == (
        ("onus",),
        "the inventory needs about 89 calls and 58 of the hourly 1,000 are left "
        "([smartolt] calls_per_hour): the stored inventory is kept",
    )
    signals = plan(spent, streams=("olts", "onus", "onu_signals"))
    assert (signals.skipped, signals.reason) == (
        ("olts", "onus"),
        "the inventory needs about 90 calls and 58 of the hourly 1,000 are left "
        "([smartolt] calls_per_hour): the stored inventory is kept, signals are read",
    )
    spent_out = plan(Spent(NOW, ((minutes_ago(45), 999, 0),)), streams=levels)
    assert (spent_out.skipped, spent_out.retry_after) == (levels, minutes_ago(45) + HOUR)


def test_statuses_and_signals_alone_are_placed_on_the_stored_onus(engine: sa.Engine) -> None:
    billing = build_billing(build_fleet(seed=11, routers=3, secrets=20))
    ids = [onu["unique_external_id"] for onu in billing.onus]
    placeable = [onu for onu in billing.onus if ids.count(onu["unique_external_id"]) == 1]
    levels = ("onu_statuses", "onu_signals")
    with SmartOLTLab(billing, TOKEN, signal_positions=False) as lab:
        account = SmartOLTAccount(lab.url, TOKEN, calls_per_second=10**6, timeout=10.0)
        first = sync_smartolt(engine, account).report
        spent = sum(target.detail["requests"] for target in first.targets)
        # Room for statuses and signals once, not for another whole run.
        tight = replace(account, calls_per_hour=spent + 2)
        lab.reset_counts()
        placeable[0]["status"] = "LOS" if placeable[0]["status"] != "LOS" else "Online"
        polled = sync_smartolt(engine, tight, only=levels).report
        spent_out = sync_smartolt(engine, tight, only=levels).report
        served = {endpoint: lab.request_count(endpoint) for endpoint in lab.paths}

    assert [(t.name, t.status) for t in polled.targets] == [(name, "ok") for name in levels]
    assert served == {"olts": 0, "onus": 0, "statuses": 1, "signals": 1}
    signals = {t.name: t for t in polled.targets}["onu_signals"]
    assert signals.detail["onu_signals"]["unchanged"] == len(placeable)
    assert signals.detail["skipped"] == len(billing.onus) - len(placeable)
    statuses = {t.name: t for t in polled.targets}["onu_statuses"]
    assert statuses.detail["onu_statuses"]["updated"] == 1
    assert [(t.name, t.status) for t in spent_out.targets] == [
        (name, "rate_limited") for name in levels
    ]


def test_streams_the_budget_leaves_out_sent_nothing(engine: sa.Engine) -> None:
    """A stream left out is not attempted, and its detail has the keys every stream has."""
    billing = build_billing(build_fleet(seed=11, routers=3, secrets=20))
    with SmartOLTLab(billing, TOKEN) as lab:
        account = SmartOLTAccount(lab.url, TOKEN, calls_per_second=10**6, timeout=10.0)
        first = sync_smartolt(engine, account).report
        spent = sum(target.detail["requests"] for target in first.targets)
        spent_out = sync_smartolt(engine, replace(account, calls_per_hour=spent)).report

    none_sent = {"requests": 0, "retries": 0}
    assert {t.name: (t.status, t.attempts, t.detail) for t in spent_out.targets} == {
        "olts": ("rate_limited", 0, none_sent),
        "onus": ("rate_limited", 0, {"full_export": False, **none_sent}),
        "onu_statuses": ("rate_limited", 0, none_sent),
        "onu_signals": ("rate_limited", 0, none_sent),
    }


def test_the_client_sends_no_call_past_its_allowance() -> None:
    billing = build_billing(build_fleet(seed=11, routers=3, secrets=20))
    renews = NOW + timedelta(minutes=5)
    with SmartOLTLab(billing, TOKEN) as lab:
        allowance = CallAllowance(2, renews, "[smartolt] calls_per_hour")
        with SmartOLTClient(lab.url, TOKEN, allowance=allowance, calls_per_second=1000) as client:
            client.olts()
            client.statuses()
            with pytest.raises(RateLimited) as caught:
                client.signals()

    assert lab.request_count("signals") == 0
    assert caught.value.retry_after == renews
    assert str(caught.value) == (
        "SmartOLT call budget spent before get_onus_signals: this run may send 2 calls of the "
        "hourly budget ([smartolt] calls_per_hour) and sent them; calls stopped, try again "
        "after 2026-12-04T15:05:00+00:00"
    )


def test_an_hour_of_polls_every_five_minutes_stays_within_the_budget(engine: sa.Engine) -> None:
    """A 1,777-ONU tenant listed 20 ONUs a page costs 92 calls a run (89 pages, the OLTs,
    statuses, signals): twelve runs would need 1,104 of the hourly 1,000. The runs here follow
    each other at once, which is harder on the budget than one every five minutes."""
    billing = build_billing(
        build_fleet(seed=11, routers=3, secrets=20), customers=3000, extra_connections=3000
    )
    watched = billing.onus[0]
    with SmartOLTLab(billing, TOKEN, hourly_budget=1000, burst_per_s=10**6) as lab:
        account = SmartOLTAccount(
            lab.url, TOKEN, page_size=20, calls_per_second=10**6, timeout=10.0
        )
        runs = []
        for poll in range(12):
            if poll == 11:
                watched["status"] = "LOS" if watched["status"] != "LOS" else "Online"
            runs.append(sync_smartolt(engine, account).report)
        served = sum(lab.request_count(endpoint) for endpoint in lab.paths)

    statuses = [{t.name: t.status for t in report.targets} for report in runs]
    full = dict.fromkeys(("olts", "onus", "onu_statuses", "onu_signals"), "ok")
    levels_only = {**full, "olts": "rate_limited", "onus": "rate_limited"}
    assert statuses == [full] * 10 + [levels_only] * 2
    assert lab.rate_limited_answers == 0
    assert served == 10 * 92 + 2 * 2
    left_out = {t.name: t for t in runs[-1].targets}["onus"]
    assert (left_out.error or "").startswith(
        "not called: the inventory needs about 90 calls and 78 of the hourly 1,000 are left"
    )
    assert left_out.retry_after is not None

    # The last poll read statuses without the ONU listing: the change still landed.
    table = schema.onu_statuses
    position = [table.c[name] == int(watched[name]) for name in ("olt_id", "board", "port", "onu")]
    with engine.connect() as conn:
        query = sa.select(table.c.status).where(*position, table.c.removed_at.is_(None))
        assert conn.execute(query).scalars().all() == [watched["status"]]


def test_a_run_that_sends_all_it_may_is_told_when_the_first_calls_leave_the_hour() -> None:
    """Runs that sent nothing free nothing when they leave the hour."""
    spent = Spent(NOW, ((minutes_ago(50), 0, 0), (minutes_ago(40), 300, 0)))

    assert plan(spent).allowance.renews_at == minutes_ago(40) + timedelta(hours=1)
    assert plan(Spent(NOW, ())).allowance.renews_at == NOW + timedelta(hours=1)
