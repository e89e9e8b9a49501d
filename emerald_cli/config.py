"""Settings from flags, EMERALD_* variables and the TOML inventory, each with its origin.

Every mistake an operator can make here ends as one `ConfigError` line naming the file, the
key and the fix, because a sync that starts on half-read settings does more harm than one
that refuses to start.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emerald_cli.errors import ConfigError, NotConfigured
from emerald_cli.sources.mikrotik.login import LOGIN_METHODS
from emerald_cli.sources.mikrotik.poll import RouterTarget
from emerald_cli.sources.mikrotik.wire import TlsSettings

PASSWORD_KEYS = ("password", "password_env", "password_file")
DEFAULT_KEYS = (
    "username",
    *PASSWORD_KEYS,
    "port",
    "timeout",
    "tls",
    "tls_verify",
    "tls_ca_file",
    "tls_anonymous",
    "login",
    "retries",
)
ROUTER_KEYS = ("name", "host", *DEFAULT_KEYS)
TOP_KEYS = ("defaults", "routers", "ispcube", "smartolt")
DAY_S = 86_400
BUILT_IN_DEFAULTS: dict[str, Any] = {
    "port": 8728,
    "timeout": 10.0,
    "tls": False,
    "tls_verify": True,
    "tls_anonymous": False,
    "login": "auto",
    "retries": 2,
}


@dataclass(frozen=True)
class Setting:
    """One effective value and where it came from ("--workers", "EMERALD_WORKERS", ...)."""

    value: Any
    origin: str
    secret: bool = False


@dataclass
class Settings:
    """The run-wide settings, resolved once per command."""

    database_url: Setting
    data_dir: Setting
    log_file: Setting
    inventory: Setting
    config: Setting
    workers: Setting
    timeout: Setting

    def items(self) -> list[tuple[str, Setting]]:
        return [(name, getattr(self, name)) for name in self.__dataclass_fields__]


@dataclass
class Inventory:
    """The routers of one inventory file (or of ISPCube's nodes), ready to poll."""

    path: Path
    routers: list[RouterTarget] = field(default_factory=list)
    password_origins: dict[str, str] = field(default_factory=dict)
    from_nodes: bool = False

    def select(self, names: list[str]) -> list[RouterTarget]:
        """The routers named by --only, in inventory order; an unknown name is an error."""
        if not names:
            return list(self.routers)

        known = {router.name for router in self.routers}
        unknown = [name for name in names if name not in known]
        if unknown:
            where, fix = f"in {self.path}", "fix the name"
            if self.from_nodes:
                where = "among ISPCube's nodes (as the last `emerald sync ispcube` stored them)"
                fix += ", or run `emerald sync ispcube` if the node is new"
            raise ConfigError(
                f"--only {', '.join(unknown)}: no such router {where}, whose routers are "
                f"{', '.join(sorted(known))}: {fix}"
            )
        return [router for router in self.routers if router.name in names]


def resolve_settings(
    *,
    database_url: str | None = None,
    inventory: Path | None = None,
    config: Path | None = None,
    workers: int | None = None,
    timeout: float | None = None,
) -> Settings:
    """Combine flags (given here), the environment and built-in defaults, in that order."""
    if workers is not None and workers < 1:
        raise ConfigError("--workers must be 1 or more")
    data_dir = _pick(None, "EMERALD_HOME", _default_data_dir(), str)
    data_path = Path(data_dir.value)
    default_db = f"sqlite:///{data_path / 'emerald.db'}"

    return Settings(
        database_url=_pick(
            database_url, "EMERALD_DATABASE_URL", default_db, str, flag="--database-url"
        ),
        data_dir=data_dir,
        log_file=_pick(None, "EMERALD_LOG_FILE", str(data_path / "emerald.log"), str),
        inventory=_pick(inventory, "EMERALD_INVENTORY", None, Path, flag="--inventory"),
        config=_pick(config, "EMERALD_CONFIG", None, Path, flag="--config"),
        workers=_pick(workers, "EMERALD_WORKERS", os.cpu_count() or 2, int, flag="--workers"),
        timeout=_pick(timeout, "EMERALD_TIMEOUT", None, float, flag="--timeout"),
    )


def mask_url(url: str) -> str:
    """A database URL with its password replaced, for display."""
    from sqlalchemy.engine import make_url  # noqa: PLC0415 (keeps `--help` fast)

    scheme, separator, rest = url.partition("://")
    if separator and rest.count("@") > 1:
        # An @ left unescaped in the password: all up to the last @ may be the password.
        user = rest.split("@", 1)[0].split(":", 1)[0]
        return f"{scheme}://{user}:********@{rest.rsplit('@', 1)[1]}"
    try:
        parsed = make_url(url)
    except Exception:  # an unparsable URL is shown as a placeholder
        return "<unparsable URL>"

    secret = {key: "********" for key in parsed.query if "password" in key.lower()}
    return parsed.update_query_dict(secret).render_as_string(hide_password=True)


def load_inventory(path: Path, timeout_override: float | None = None) -> Inventory:
    """Read and check an inventory file; every router comes back with its password resolved."""
    return parse_inventory(path, _read_toml(path), timeout_override)


def inventory_from_nodes(
    config_path: Path | None,
    nodes: list[dict[str, Any]],
    timeout_override: float | None = None,
) -> Inventory:
    """The routers ISPCube lists as nodes, with credentials from [defaults] or the environment.

    [defaults] of the config file applies when there is one; otherwise EMERALD_ROUTER_USERNAME
    and EMERALD_ROUTER_PASSWORD give every router the same login.
    """
    if not nodes:
        raise ConfigError(
            "no routers to poll: pass --inventory FILE or set EMERALD_INVENTORY, or run "
            "`emerald sync ispcube` first so that its nodes become the routers"
        )
    label = config_path or Path("ISPCube's nodes")
    document = _read_toml(config_path) if config_path else {}
    defaults = document.get("defaults")
    if defaults is None:
        defaults = _login_from_environment()
    inventory = parse_inventory(label, {"defaults": defaults, "routers": nodes}, timeout_override)
    inventory.from_nodes = True
    return inventory


def _login_from_environment() -> dict[str, str]:
    """[defaults] for ISPCube's nodes when the config file has none: both variables, or
    neither (a site that gives every router in --inventory)."""
    username = os.environ.get("EMERALD_ROUTER_USERNAME")
    password = os.environ.get("EMERALD_ROUTER_PASSWORD")
    if not username and not password:
        raise NotConfigured(
            "no router credentials for the ISPCube nodes: set EMERALD_ROUTER_USERNAME and "
            "EMERALD_ROUTER_PASSWORD, or a [defaults] table in the config file"
        )
    if not username or not password:
        missing, lacking = (
            ("EMERALD_ROUTER_PASSWORD", "password")
            if username
            else ("EMERALD_ROUTER_USERNAME", "username")
        )
        raise ConfigError(
            f"{missing} is not set, so the routers of ISPCube's nodes have no {lacking}: "
            "export it, or give [defaults] in the config file"
        )
    return {"username": username, "password_env": "EMERALD_ROUTER_PASSWORD"}


def node_default_port(config_path: Path | None) -> int | None:
    """The router port of an ISPCube node that gives none: port in [defaults] of the config
    file. None when it sets none, and such a node then gets no router: a guessed port would
    be polled, and fail, on every run."""
    if config_path is None:
        return None
    defaults = _read_toml(config_path).get("defaults", {})
    if not isinstance(defaults, dict):
        raise ConfigError(f"{config_path}: [defaults] must be a table")
    _check_keys(config_path, "[defaults]", defaults, DEFAULT_KEYS)
    if "port" not in defaults:
        return None
    return _integer(config_path, "[defaults]", "port", defaults["port"], 1, 65535)


def node_inventory(config_path: Path | None, timeout_override: float | None = None) -> Inventory:
    """One stand-in ISPCube node with the login every node gets, or the ConfigError that
    inventory_from_nodes() would raise after the ISPCube sync: `sync all` checks it first, so
    as not to spend ISPCube's budget for nothing, and `config show` shows it."""
    probe = {"name": "ispcube-node", "host": "127.0.0.1", "port": 8728}
    return inventory_from_nodes(config_path, [probe], timeout_override)


def parse_inventory(
    path: Path, document: dict[str, Any], timeout_override: float | None = None
) -> Inventory:
    """Check an inventory document; `path` only names where it came from in errors."""
    _check_keys(path, "the top level", document, TOP_KEYS)

    defaults = document.get("defaults", {})
    if not isinstance(defaults, dict):
        raise ConfigError(f"{path}: [defaults] must be a table")
    _check_keys(path, "[defaults]", defaults, DEFAULT_KEYS)

    routers = document.get("routers", [])
    if not isinstance(routers, list) or not routers:
        raise ConfigError(
            f"{path}: no routers: add at least one [[routers]] table with name and host"
        )

    inventory = Inventory(path=path)
    seen: set[str] = set()
    for position, entry in enumerate(routers, start=1):
        where = f"routers[{position}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{path}: {where} must be a table ([[routers]])")
        _check_keys(path, where, entry, ROUTER_KEYS)

        target, origin = _router_target(path, where, defaults, entry, timeout_override)
        if target.name in seen:
            raise ConfigError(f"{path}: {where}: router name {target.name!r} is used twice")
        seen.add(target.name)
        inventory.routers.append(target)
        inventory.password_origins[target.name] = origin
    return inventory


def _router_target(
    path: Path,
    where: str,
    defaults: dict[str, Any],
    entry: dict[str, Any],
    timeout_override: float | None,
) -> tuple[RouterTarget, str]:
    for required in ("name", "host"):
        if not isinstance(entry.get(required), str) or not entry[required].strip():
            raise ConfigError(f'{path}: {where}: missing {required} = "..." (text)')
        if not entry[required].isprintable():
            raise ConfigError(f"{path}: {where}: {required} holds a control character")
    where = f"{where} ({entry['name']})"

    def at(key: str) -> str:
        """Where a bad value of `key` must be fixed: the router, or the [defaults] it took."""
        return where if key in entry else "[defaults]"

    merged = {**BUILT_IN_DEFAULTS, **_without_passwords(defaults, entry), **entry}
    if "username" not in merged:
        raise ConfigError(f'{path}: {where}: no username: add username = "..." to [defaults]')

    own_password = _has_password(entry)
    password, origin = _password(
        path, where if own_password else "[defaults]", entry if own_password else defaults
    )
    timeout = timeout_override if timeout_override is not None else merged["timeout"]
    target = RouterTarget(
        name=entry["name"].strip(),
        host=entry["host"].strip(),
        port=_integer(path, at("port"), "port", merged["port"], 1, 65535),
        username=_text(path, at("username"), "username", merged["username"]),
        password=password,
        timeout=_seconds(path, at("timeout"), timeout),
        retries=_integer(path, at("retries"), "retries", merged["retries"], 0, 10),
        login=_choice(path, at("login"), "login", merged["login"], LOGIN_METHODS),
        tls=_tls(path, at, merged),
    )
    return target, origin


def _password(path: Path, where: str, source: dict[str, Any]) -> tuple[str, str]:
    if "password" in source:
        return _text(path, where, "password", source["password"]), "inline password"

    if "password_file" in source:
        file = Path(_text(path, where, "password_file", source["password_file"])).expanduser()
        try:
            return file.read_text(encoding="utf-8").strip("\r\n"), f"file {file}"
        except OSError as error:
            raise ConfigError(
                f"{path}: {where}: password_file {file} cannot be read ({error.strerror}): "
                "fix the path or its permissions"
            ) from None

    if "password_env" in source:
        variable = _text(path, where, "password_env", source["password_env"])
        value = os.environ.get(variable)
        if not value:
            raise ConfigError(
                f"{path}: {where}: password_env names {variable}, which is not set: "
                "export it or use password_file"
            )
        return value, f"env {variable}"

    raise ConfigError(
        f'{path}: {where}: no password: add password_env = "EMERALD_ROUTER_PASSWORD" '
        "(or password / password_file) to [defaults] or to the router"
    )


def _has_password(table: dict[str, Any]) -> bool:
    return any(key in table for key in PASSWORD_KEYS)


def _without_passwords(defaults: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    """Defaults minus their password keys when the router brings a password of its own."""
    if not _has_password(entry):
        return defaults
    return {key: value for key, value in defaults.items() if key not in PASSWORD_KEYS}


def _tls(path: Path, at: Callable[[str], str], merged: dict[str, Any]) -> TlsSettings | None:
    if not _boolean(path, at("tls"), "tls", merged["tls"]):
        return None
    ca_file = merged.get("tls_ca_file")
    return TlsSettings(
        verify=_boolean(path, at("tls_verify"), "tls_verify", merged["tls_verify"]),
        ca_file=(
            _text(path, at("tls_ca_file"), "tls_ca_file", ca_file) if ca_file is not None else None
        ),
        anonymous=_boolean(path, at("tls_anonymous"), "tls_anonymous", merged["tls_anonymous"]),
    )


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: inventory file not found: pass --inventory FILE or set EMERALD_INVENTORY"
        ) from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the inventory ({error.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(
            f"{path}: not valid TOML ({error}): fix the file, written in UTF-8"
        ) from None


def _check_keys(path: Path, where: str, table: dict[str, Any], allowed: tuple[str, ...]) -> None:
    for key in table:
        if key in allowed:
            continue
        close = difflib.get_close_matches(key, allowed, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"allowed: {', '.join(allowed)}"
        raise ConfigError(f"{path}: {where}: unknown key {key!r}: {hint}")


def _text(path: Path, where: str, key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{path}: {where}: {key} must be text in quotes, not {value!r}")
    return value


def _boolean(path: Path, where: str, key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{path}: {where}: {key} must be true or false, not {value!r}")
    return value


def _integer(path: Path, where: str, key: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{path}: {where}: {key} must be a whole number from {low} to {high}")
    return value


def _seconds(path: Path, where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= DAY_S:
        raise ConfigError(
            f"{path}: {where}: timeout must be a number of seconds above 0 and at most {DAY_S}"
        )
    return float(value)


def _choice(path: Path, where: str, key: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ConfigError(f"{path}: {where}: {key} must be one of {', '.join(choices)}")
    return str(value)


def _pick(
    flag_value: Any, variable: str, default: Any, kind: type, flag: str | None = None
) -> Setting:
    if flag_value is not None:
        return Setting(flag_value, flag or "flag")

    raw = os.environ.get(variable)
    if raw:
        try:
            value = kind(raw)
        except ValueError:
            number = "a whole number" if kind is int else "a number"
            raise ConfigError(f"{variable}={raw!r} is not {number}: fix or unset it") from None
        if kind in (int, float) and not 0 < value <= DAY_S:
            allowed = f"1 to {DAY_S}" if kind is int else f"above 0, at most {DAY_S} seconds"
            raise ConfigError(f"{variable}={raw!r} is out of range ({allowed}): fix or unset it")
        return Setting(value, f"env {variable}")
    return Setting(default, "default")


def _default_data_dir() -> str:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(base) / "emerald")
