"""`emerald db`: the schema can be inspected and upgraded on an empty database."""

from __future__ import annotations

import sqlalchemy as sa
from typer.testing import CliRunner

from emerald_cli.cli import app
from emerald_cli.config import mask_url
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


def test_a_database_that_does_not_exist_is_exit_two_saying_what_to_fix(
    database_url: str, tmp_path, monkeypatch
):
    """A wrong URL is a setting to fix, not a database to wait for."""
    monkeypatch.setenv("EMERALD_HOME", str(tmp_path / "home"))
    if database_url.startswith("sqlite"):
        missing = tmp_path / "typo" / "emerald.db"
        url = f"sqlite:///{missing}"
        why = f"the folder {missing.parent} does not exist: create it, or fix the path in the URL"
    else:
        url = str(sa.make_url(database_url).set(database="emerald_nowhere", query={}))
        why = (
            'database "emerald_nowhere" does not exist: create it (createdb emerald_nowhere), '
            "or fix the database name in the URL"
        )

    result = runner.invoke(app, ["runs", "--database-url", url])

    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: cannot connect to the database {mask_url(url)}: {why}"
    ]
