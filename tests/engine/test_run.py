"""A run's report: how it settles, and the one line it gives when it is not ok."""

from __future__ import annotations

from emerald_cli.engine.run import RunReport, TargetReport
from emerald_cli.logs import MASK


def test_a_run_not_ok_names_the_first_failure_in_one_line_without_secrets():
    report = RunReport(source="mikrotik")
    report.targets = [
        TargetReport("core-2", "ok"),
        TargetReport("core-9", "timeout", "no reply\n  after 10.0s"),
        TargetReport("core-1", "auth_failed", "login refused: =password=hunter2\nwas wrong"),
    ]

    assert report.settle() == "partial"
    assert report.error == (
        f"2 of 3 routers failed, first core-1 (auth_failed): login refused: =password={MASK} "
        "was wrong"
    )


def test_an_ok_run_has_no_error():
    report = RunReport(source="ispcube")
    report.targets = [TargetReport("plans", "ok", kind="stream")]

    assert (report.settle(), report.error) == ("ok", None)
