"""`emerald db`: apply or inspect the schema migrations."""

from __future__ import annotations

import typer

from emerald_cli import console
from emerald_cli.commands.options import DatabaseUrl, exits_cleanly, prepare
from emerald_cli.config import mask_url
from emerald_cli.engine.database import open_store
from emerald_cli.store.migrate import current_revision, pending_revisions, upgrade

app = typer.Typer(rich_markup_mode=None, help="Manage the database schema.", no_args_is_help=True)


@app.command("upgrade")
@exits_cleanly
def upgrade_schema(database_url: DatabaseUrl = None) -> None:
    """Apply every pending migration."""
    settings = prepare(database_url=database_url)
    engine = open_store(settings.database_url.value, schema="ignore")
    applied = upgrade(engine)
    where = mask_url(settings.database_url.value)
    console.note(f"{where}: applied {', '.join(applied)}" if applied else f"{where}: up to date")


@app.command("status")
@exits_cleanly
def schema_status(database_url: DatabaseUrl = None) -> None:
    """Show the schema revision and what is pending."""
    settings = prepare(database_url=database_url)
    engine = open_store(settings.database_url.value, schema="ignore")
    pending = pending_revisions(engine)
    console.data.print(f"current: {current_revision(engine) or 'empty database'}")
    console.data.print(f"pending: {', '.join(pending) if pending else 'none'}")
