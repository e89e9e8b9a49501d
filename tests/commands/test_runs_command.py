"""`emerald runs` reads the history and nothing else: it creates and migrates no table."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa
from typer.testing import CliRunner

from emerald_cli.cli import app
from emerald_cli.store.database import make_engine
from emerald_cli.store.migrate import upgrade
from tests.store.conftest import REVISIONS
from tests.store.test_saas_tables import downgraded

runner = CliRunner()
NO_TABLES = "the database has no emerald tables yet; run a sync or `emerald db upgrade`"


def tables(database_url: str) -> list[str]:
    engine = make_engine(database_url)
    with engine.connect() as conn:
        names = sa.inspect(conn).get_table_names()
    engine.dispose()
    return names


def test_runs_of_a_database_without_emerald_tables_are_none(database_url: str, tmp_path: Path):
    url = ["--database-url", database_url]

    listed = runner.invoke(app, ["runs", "--json", *url])
    table = runner.invoke(app, ["runs", *url])
    shown = runner.invoke(app, ["runs", "show", "1", *url])

    assert (listed.exit_code, json.loads(listed.stdout)) == (0, [])
    assert (table.exit_code, "sync runs" in table.stdout) == (0, True)
    for result in (listed, table):
        assert result.stderr.splitlines() == [f"no runs recorded: {NO_TABLES}"]
    assert (shown.exit_code, shown.stdout) == (2, "")
    assert shown.stderr.splitlines() == [f"error: no run with id 1: {NO_TABLES}"]
    if database_url.startswith("sqlite"):
        assert not (tmp_path / "emerald.db").exists()  # not even an empty file
    assert tables(database_url) == []


def test_runs_of_a_schema_behind_asks_for_an_upgrade(database_url: str):
    engine = make_engine(database_url)
    upgrade(engine)
    downgraded(engine, REVISIONS[-2])
    engine.dispose()

    for command in (["runs"], ["runs", "show", "1"]):
        result = runner.invoke(app, [*command, "--database-url", database_url])

        assert (result.exit_code, result.stdout) == (2, "")
        assert result.stderr.splitlines() == [
            f"error: the database schema is out of date: it is at revision {REVISIONS[-2]} and "
            f"1 migration(s) are pending ({REVISIONS[-1]}); run `emerald db upgrade`"
        ]
