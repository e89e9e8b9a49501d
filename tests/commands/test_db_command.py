"""`emerald db`: the schema can be inspected and upgraded on an empty database."""

from __future__ import annotations

from typer.testing import CliRunner

from emerald_cli.cli import app
from tests.store.conftest import REVISIONS

runner = CliRunner()


def test_status_then_upgrade_then_up_to_date(database_url: str, tmp_path, monkeypatch):
    monkeypatch.setenv("EMERALD_HOME", str(tmp_path))
    url = ["--database-url", database_url]

    before = runner.invoke(app, ["db", "status", *url])
    first = runner.invoke(app, ["db", "upgrade", *url])
    second = runner.invoke(app, ["db", "upgrade", *url])
    after = runner.invoke(app, ["db", "status", *url])

    assert before.exit_code == 0, before.stderr
    assert before.stdout.splitlines() == [
        "current: empty database",
        f"pending: {', '.join(REVISIONS)}",
    ]
    assert first.exit_code == 0
    assert first.stderr.strip().endswith(f"applied {', '.join(REVISIONS)}")
    assert second.stderr.strip().endswith("up to date")
    assert after.stdout.splitlines() == [f"current: {REVISIONS[-1]}", "pending: none"]


def test_a_malformed_url_is_exit_two_without_its_password(tmp_path, monkeypatch):
    monkeypatch.setenv("EMERALD_HOME", str(tmp_path / "home"))
    urls = {
        "postgresql+psycopg://postgres:PG@SECRET8@127.0.0.1:5999/x": "more than one @",
        "postgresql+psycopg://postgres:SECRET8@127.0.0.1:notaport/x": "port is not a number",
    }

    for url, reason in urls.items():
        result = runner.invoke(app, ["db", "status", "--database-url", url])

        assert result.exit_code == 2
        assert reason in result.stderr
        assert "SECRET8" not in result.stderr + result.stdout
    assert "SECRET8" not in (tmp_path / "home" / "emerald.log").read_text(encoding="utf-8")
