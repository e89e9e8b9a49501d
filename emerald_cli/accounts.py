"""The ISPCube and SmartOLT accounts: where they live and how to log in, with each value's origin.

Each value comes from an EMERALD_* variable, from the same variable with `_FILE` appended (a
file holding it, as container secrets are mounted), or from the [ispcube] / [smartolt] table
of the config file (`--config`, EMERALD_CONFIG), in that order. A missing value is a
`ConfigError` that names the variable to set.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from emerald_cli.errors import ConfigError, NotConfigured

DEFAULT_ZONE = "America/Argentina/Buenos_Aires"
CONFIG_KEYS = ("defaults", "routers", "ispcube", "smartolt")
SECTIONS = ("ispcube", "smartolt")


@dataclass(frozen=True)
class ISPCubeAccount:
    """ISPCubeAccount(url="https://online99.ispcube.com/api", client_id="77", username="api", …)"""

    url: str
    api_key: str = field(repr=False)
    client_id: str
    username: str
    password: str = field(repr=False)
    page_size: int = 1000
    max_customers: int = 100_000
    zone: str = DEFAULT_ZONE
    timeout: float = 120.0
    retries: int = 3
    origins: dict[str, str] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class SmartOLTAccount:
    """SmartOLTAccount(url="https://isp.smartolt.com/api", full_export=False, …)"""

    url: str
    token: str = field(repr=False)
    page_size: int = 100
    full_export: bool = False
    calls_per_second: int = 10
    # SmartOLT's default budget, and its smallest published full-export limit.
    calls_per_hour: int = 1000
    full_exports_per_hour: int = 3
    zone: str = DEFAULT_ZONE
    timeout: float = 120.0
    retries: int = 3
    origins: dict[str, str] = field(default_factory=dict, repr=False, compare=False)


# setting name → (environment variable, config key, secret?)
ISPCUBE_SETTINGS = {
    "url": ("EMERALD_ISPCUBE_URL", "url", False),
    "api_key": ("EMERALD_ISPCUBE_API_KEY", "api_key", True),
    "client_id": ("EMERALD_ISPCUBE_CLIENT_ID", "client_id", False),
    "username": ("EMERALD_ISPCUBE_USER", "username", False),
    "password": ("EMERALD_ISPCUBE_PASSWORD", "password", True),
}
SMARTOLT_SETTINGS = {
    "url": ("EMERALD_SMARTOLT_URL", "url", False),
    "token": ("EMERALD_SMARTOLT_TOKEN", "token", True),
}
OPTIONAL_KEYS = {
    "ispcube": ("page_size", "max_customers", "time_zone", "timeout", "retries"),
    "smartolt": (
        "page_size",
        "full_export",
        "calls_per_second",
        "calls_per_hour",
        "full_exports_per_hour",
        "time_zone",
        "timeout",
        "retries",
    ),
}


def read_config(path: Path | None, sections: tuple[str, ...] = SECTIONS) -> dict[str, Any]:
    """The config file as a dict ({} when there is none); bad files fail with one line.

    Of the sections, those in `sections` are checked: all of them unless a caller that
    checks each in turn (`config show`) wants each error blamed on its own section.
    """
    if path is None:
        return {}
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: config file not found: fix --config or EMERALD_CONFIG"
        ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(
            f"{path}: not valid TOML ({error}): fix the file, written in UTF-8"
        ) from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the config file ({error.strerror})") from None

    unknown = sorted(set(document) - set(CONFIG_KEYS))
    if unknown:
        raise ConfigError(
            f"{path}: unknown table {unknown[0]!r}: allowed: {', '.join(CONFIG_KEYS)}"
        )
    # Every section is checked whichever a command uses: a mistake in [ispcube] must not
    # wait for the night `sync all` first reads it.
    for name in sections:
        if name in document:
            _check_section(path, name, document[name])
    return document


def ispcube_account(config_path: Path | None, *, whole_file: bool = True) -> ISPCubeAccount:
    """The account; `whole_file=False` checks only [ispcube] of the config file."""
    table = _table(config_path, "ispcube", whole_file)
    values, origins = _resolve(config_path, "ispcube", table, ISPCUBE_SETTINGS)
    _check_url(values["url"], origins["url"])
    return ISPCubeAccount(
        **values,
        page_size=_positive_int(config_path, "ispcube", table, "page_size", 1000),
        max_customers=_positive_int(config_path, "ispcube", table, "max_customers", 100_000),
        zone=_zone(config_path, "ispcube", table),
        timeout=_seconds(config_path, "ispcube", table),
        retries=_positive_int(config_path, "ispcube", table, "retries", 3, low=0),
        origins=origins,
    )


def smartolt_account(config_path: Path | None, *, whole_file: bool = True) -> SmartOLTAccount:
    """The account; `whole_file=False` checks only [smartolt] of the config file."""
    table = _table(config_path, "smartolt", whole_file)
    values, origins = _resolve(config_path, "smartolt", table, SMARTOLT_SETTINGS)
    _check_url(values["url"], origins["url"])
    full_export = table.get("full_export", False)
    if not isinstance(full_export, bool):
        raise ConfigError(f"{config_path}: [smartolt] full_export must be true or false")
    return SmartOLTAccount(
        **values,
        page_size=_positive_int(config_path, "smartolt", table, "page_size", 100, high=100),
        full_export=full_export,
        calls_per_second=_positive_int(
            config_path, "smartolt", table, "calls_per_second", 10, high=15
        ),
        calls_per_hour=_positive_int(config_path, "smartolt", table, "calls_per_hour", 1000),
        full_exports_per_hour=_positive_int(
            config_path, "smartolt", table, "full_exports_per_hour", 3, high=60
        ),
        zone=_zone(config_path, "smartolt", table),
        timeout=_seconds(config_path, "smartolt", table),
        retries=_positive_int(config_path, "smartolt", table, "retries", 3, low=0),
        origins=origins,
    )


def _check_url(url: str, origin: str) -> None:
    # Both APIs take their credentials in headers; a password in the URL would only be shown
    # wherever the URL is (settings, errors), so the URL is refused without being repeated.
    if "@" in urlsplit(url).netloc:
        raise ConfigError(
            f"the URL from {origin} carries a user name or password: remove them, the API "
            "credentials have settings of their own"
        )
    if not url.startswith(("http://", "https://")):
        raise ConfigError(
            f"{url!r} ({origin}) is not an http(s) URL: write it like https://host/api"
        )


def _table(config_path: Path | None, name: str, whole_file: bool) -> dict[str, Any]:
    document = read_config(config_path, SECTIONS if whole_file else (name,))
    table: dict[str, Any] = document.get(name, {})
    return table


def _check_section(path: Path, name: str, table: Any) -> None:
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [{name}] must be a table")

    settings = ISPCUBE_SETTINGS if name == "ispcube" else SMARTOLT_SETTINGS
    allowed = (*(key for _, key, _ in settings.values()), *OPTIONAL_KEYS[name])
    for key in table:
        if key not in allowed:
            raise ConfigError(
                f"{path}: [{name}]: unknown key {key!r}: allowed: {', '.join(allowed)}"
            )


def _resolve(
    config_path: Path | None,
    section: str,
    table: dict[str, Any],
    settings: dict[str, tuple[str, str, bool]],
) -> tuple[dict[str, str], dict[str, str]]:
    values: dict[str, str] = {}
    origins: dict[str, str] = {}
    missing: list[str] = []
    for name, (variable, key, _secret) in settings.items():
        found = _one(config_path, section, table, variable, key)
        if found is None:
            missing.append(name)
        else:
            values[name], origins[name] = found
    if not missing:
        return values, origins

    variable, key, _secret = settings[missing[0]]
    where = f" or {key} in [{section}] of {config_path}" if config_path else ""
    fix = f"set {variable} (or {variable}_FILE){where}"
    if values or table:
        raise ConfigError(f"{section} setting {missing[0]} is missing: {fix}")
    raise NotConfigured(f"{section} is not configured: {fix}")


def _one(
    config_path: Path | None, section: str, table: dict[str, Any], variable: str, key: str
) -> tuple[str, str] | None:
    """The value and where it came from; None when it is given nowhere."""
    if os.environ.get(variable):
        return os.environ[variable], f"env {variable}"

    file_variable = f"{variable}_FILE"
    if os.environ.get(file_variable):
        path = Path(os.environ[file_variable])
        try:
            value = path.read_text(encoding="utf-8").strip("\r\n")
        except OSError as error:
            raise ConfigError(
                f"{file_variable}={path} cannot be read ({error.strerror}): fix the path"
            ) from None
        if not value:
            raise ConfigError(f"{file_variable}={path} is empty: put the value in it")
        return value, f"file {path}"

    if key in table:
        value = table[key]
        if not isinstance(value, str | int) or isinstance(value, bool) or value == "":
            raise ConfigError(f"{config_path}: [{section}] {key} must be non-empty text")
        return str(value), f"{config_path} [{section}]"
    return None


def _positive_int(
    config_path: Path | None,
    section: str,
    table: dict[str, Any],
    key: str,
    default: int,
    low: int = 1,
    high: int = 1_000_000,
) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(
            f"{config_path}: [{section}] {key} must be a whole number from {low} to {high}"
        )
    return value


def _seconds(config_path: Path | None, section: str, table: dict[str, Any]) -> float:
    """Seconds one API answer may take in all: a hung API must not hold the nightly run."""
    value = table.get("timeout", 120.0)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 3600:
        raise ConfigError(
            f"{config_path}: [{section}] timeout must be a number of seconds above 0"
        )
    return float(value)


def _zone(config_path: Path | None, section: str, table: dict[str, Any]) -> str:
    zone = os.environ.get("EMERALD_TIME_ZONE") or table.get("time_zone") or DEFAULT_ZONE
    try:
        ZoneInfo(str(zone))
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"time zone {zone!r} (EMERALD_TIME_ZONE or [{section}] time_zone) is unknown: "
            "use a name like America/Argentina/Buenos_Aires"
        ) from None
    return str(zone)
