"""A run's report: how it settles, the one line it gives when it is not ok, and what of it
the history keeps."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from emerald_cli.engine.run import RunReport, SyncRun, TargetReport
from emerald_cli.logs import MASK, REDACTOR
from emerald_cli.store.runs import get_run


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


def test_the_history_holds_errors_with_their_secrets_masked(engine: sa.Engine):
    REDACTOR.add("tok-4f9a2c-secret")
    run = SyncRun(engine, "ispcube", "cli")

    def fail_after_a_refused_stream() -> None:
        with run:
            refused = "tok-4f9a2c-secret refused"
            run.record(TargetReport("customers", "auth_failed", refused, kind="stream"))
            raise RuntimeError("the database dropped while sending tok-4f9a2c-secret")

    with pytest.raises(RuntimeError, match="database dropped"):
        fail_after_a_refused_stream()

    stored = get_run(engine, run.report.run_id)
    assert stored is not None
    assert (stored["status"], stored["error"]) == (
        "failed",
        f"the database dropped while sending {MASK}",
    )
    assert [target["error"] for target in stored["targets"]] == [f"{MASK} refused"]
