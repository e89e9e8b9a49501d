"""`emerald config show`: the effective settings and where each came from, secrets masked."""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from emerald_cli import console
from emerald_cli.accounts import (
    ISPCUBE_SETTINGS,
    SMARTOLT_SETTINGS,
    SmartOLTAccount,
    ispcube_account,
    smartolt_account,
)
from emerald_cli.commands.options import (
    ConfigFile,
    DatabaseUrl,
    InventoryFile,
    JsonOutput,
    exits_cleanly,
    prepare,
)
from emerald_cli.config import Inventory, load_inventory, mask_url, node_inventory
from emerald_cli.errors import ConfigError, NotConfigured
from emerald_cli.sources.mikrotik.poll import RouterTarget

app = typer.Typer(rich_markup_mode=None, help="Inspect the configuration.", no_args_is_help=True)

NODE_LOGIN = "router login for ISPCube's nodes"


@app.command("show")
@exits_cleanly
def show(
    inventory: InventoryFile = None,
    json_output: JsonOutput = False,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Print every effective setting and its origin (flag, env, file or default).

    Exits 2, after showing the rest, when a setting cannot be used as configured.
    """
    settings = prepare(
        database_url=database_url, inventory=inventory, config=config, quiet=json_output
    )
    rows: list[dict[str, Any]] = []
    for name, setting in settings.items():
        value = mask_url(setting.value) if name == "database_url" else setting.value
        rows.append(
            {
                "setting": name,
                "value": value if value is None or isinstance(value, int | float) else str(value),
                "origin": setting.origin,
            }
        )

    routers: list[dict[str, Any]] = []
    node_login: dict[str, Any] = {}
    unusable: list[str] = []
    if settings.inventory.value is not None:
        loaded = load_inventory(settings.inventory.value, settings.timeout.value)
        routers = [_router_row(loaded, router) for router in loaded.routers]
    else:
        # Without an inventory `sync mikrotik` polls ISPCube's nodes: show the login they get.
        try:
            probe = node_inventory(settings.config.value, settings.timeout.value)
        except ConfigError as error:
            node_login = _error_row(NODE_LOGIN, error, unusable)
        else:
            node_login = _router_row(probe, probe.routers[0])
            for key in ("name", "host", "port"):
                del node_login[key]

    accounts = _accounts(settings.config.value, unusable)
    if json_output:
        console.print_json(
            {"settings": rows, "routers": routers, "node_login": node_login, "accounts": accounts}
        )
    else:
        _print_tables(rows, settings.inventory.value, routers, node_login, accounts)
    if unusable:
        raise ConfigError(
            f"cannot be used as configured: {', '.join(unusable)}; fix what the error rows say"
        )


def _print_tables(
    rows: list[dict[str, Any]],
    inventory: Any,
    routers: list[dict[str, Any]],
    node_login: dict[str, Any],
    accounts: dict[str, dict[str, Any]],
) -> None:
    _print_table("settings", rows)
    if routers:
        _print_table(f"routers ({inventory})", routers)
    if node_login:
        login_rows = [{"setting": key, "value": value} for key, value in node_login.items()]
        _print_table(NODE_LOGIN, login_rows)
    for name, values in accounts.items():
        origins = values.get("origins", {})
        shown = [
            {"setting": key, "value": f"{value} ({origins[key]})" if key in origins else value}
            for key, value in values.items()
            if key != "origins"
        ]
        _print_table(name, shown)


def _error_row(name: str, error: ConfigError, unusable: list[str]) -> dict[str, Any]:
    """What is shown in place of settings that failed. A source left unconfigured is only
    noted, as not_configured; one configured wrongly is an error, and makes `config show`
    exit 2."""
    if isinstance(error, NotConfigured):
        return {"not_configured": str(error)}

    unusable.append(name)
    return {"error": str(error)}


def _accounts(config_path: Any, unusable: list[str]) -> dict[str, dict[str, Any]]:
    """Each API account's settings, with where the account's own settings came from under
    "origins" (a script reads the values as they are); secrets masked, gaps explained. Each
    is checked against its own section of the config file, so a mistake in one section is
    shown there and not under the other source too."""
    shown: dict[str, dict[str, Any]] = {}
    loaders = (
        ("ispcube", ispcube_account, ISPCUBE_SETTINGS),
        ("smartolt", smartolt_account, SMARTOLT_SETTINGS),
    )
    for name, load, settings in loaders:
        try:
            account = load(config_path, whole_file=False)
        except ConfigError as error:
            shown[name] = _error_row(name, error, unusable)
            continue
        values: dict[str, Any] = {
            field: "********" if secret else getattr(account, field)
            for field, (_variable, _key, secret) in settings.items()
        }
        values.update(page_size=account.page_size, time_zone=account.zone, timeout=account.timeout)
        values["retries"] = account.retries
        if isinstance(account, SmartOLTAccount):
            values.update(
                full_export=account.full_export,
                calls_per_second=account.calls_per_second,
                calls_per_hour=account.calls_per_hour,
                full_exports_per_hour=account.full_exports_per_hour,
            )
        else:
            values["max_customers"] = account.max_customers
        values["origins"] = {field: account.origins[field] for field in settings}
        shown[name] = values
    return shown


def _router_row(inventory: Inventory, router: RouterTarget) -> dict[str, Any]:
    return {
        "name": router.name,
        "host": router.host,
        "port": router.port,
        "username": router.username,
        "password": f"******** ({inventory.password_origins[router.name]})",
        "timeout": router.timeout,
        "retries": router.retries,
        "login": router.login,
        "tls": _tls(router.tls),
    }


def _tls(tls: Any) -> str:
    if tls is None:
        return "off"
    if tls.anonymous:
        return "anonymous DH"
    return "verified" if tls.verify else "unverified"


def _print_table(title: str, rows: list[dict[str, Any]]) -> None:
    table = Table(title=title)
    for header in rows[0]:
        table.add_column(header)
    for row in rows:
        table.add_row(*("" if value is None else escape(str(value)) for value in row.values()))
    console.data.print(table)
