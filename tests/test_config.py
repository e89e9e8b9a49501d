"""The inventory loader: good files give exact targets, every bad file one clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from emerald_cli.config import load_inventory, node_default_port, resolve_settings
from emerald_cli.errors import ConfigError

GOOD = """
[defaults]
username = "api-reader"
password_env = "EMERALD_ROUTER_PASSWORD"
port = 8728
timeout = 10
tls = false

[[routers]]
name = "core-1"
host = "127.0.0.1"
port = 18728

[[routers]]
name = "edge-2"
host = "127.0.0.2"
password = "own-secret"
tls = true
tls_verify = false
login = "legacy"
retries = 0
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "inventory.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_apply_and_routers_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("EMERALD_ROUTER_PASSWORD", "from-env-ñ")
    inventory = load_inventory(write(tmp_path, GOOD))

    core, edge = inventory.routers
    assert (core.name, core.host, core.port, core.username) == (
        "core-1",
        "127.0.0.1",
        18728,
        "api-reader",
    )
    assert (core.password, core.timeout, core.tls, core.login, core.retries) == (
        "from-env-ñ",
        10.0,
        None,
        "auto",
        2,
    )
    assert (edge.port, edge.password, edge.login, edge.retries) == (
        8728,
        "own-secret",
        "legacy",
        0,
    )
    assert edge.tls is not None and (edge.tls.verify, edge.tls.anonymous) == (False, False)
    assert inventory.password_origins == {
        "core-1": "env EMERALD_ROUTER_PASSWORD",
        "edge-2": "inline password",
    }


def test_password_never_in_repr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("EMERALD_ROUTER_PASSWORD", "hunter2-secret")
    inventory = load_inventory(write(tmp_path, GOOD))
    assert "hunter2-secret" not in repr(inventory.routers)


def test_password_file(tmp_path: Path):
    secret = tmp_path / "router.pw"
    secret.write_text("from-file\n", encoding="utf-8")
    text = GOOD.replace('password_env = "EMERALD_ROUTER_PASSWORD"', f'password_file = "{secret}"')
    core = load_inventory(write(tmp_path, text)).routers[0]
    assert core.password == "from-file"


def test_timeout_flag_overrides_inventory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("EMERALD_ROUTER_PASSWORD", "x")
    routers = load_inventory(write(tmp_path, GOOD), timeout_override=2.5).routers
    assert [router.timeout for router in routers] == [2.5, 2.5]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[defaults\n", "not valid TOML"),
        (
            GOOD.replace("port = 18728", "prot = 18728"),
            "routers[1]: unknown key 'prot': did you mean 'port'?",
        ),
        (GOOD.replace("tls = false", "colour = 1"), "[defaults]: unknown key 'colour'"),
        (
            GOOD.replace("port = 18728", 'port = "x"'),
            "port must be a whole number from 1 to 65535",
        ),
        (
            GOOD.replace('login = "legacy"', 'login = "md5"'),
            "login must be one of auto, plain, legacy",
        ),
        (GOOD.replace('name = "edge-2"', 'name = "core-1"'), "router name 'core-1' is used twice"),
        ("[defaults]\nusername = 'a'\n", "no routers: add at least one [[routers]]"),
        (GOOD.replace('host = "127.0.0.1"\n', ""), "routers[1]: missing host"),
        # A value the routers take from [defaults] is blamed on [defaults], not on a router.
        (
            GOOD.replace("timeout = 10", "timeout = 0"),
            ": [defaults]: timeout must be a number of seconds above 0",
        ),
        (
            GOOD.replace("tls = false", 'tls = "no"'),
            ": [defaults]: tls must be true or false, not 'no'",
        ),
    ],
)
def test_bad_files_name_the_file_and_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, expected: str
):
    monkeypatch.setenv("EMERALD_ROUTER_PASSWORD", "x")
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load_inventory(path)
    assert str(raised.value).startswith(str(path))
    assert expected in str(raised.value)
    assert raised.value.exit_code == 2


def test_the_port_of_nodes_without_one_comes_from_the_config_defaults(tmp_path: Path):
    """Only [defaults] of a config file gives it: no port is guessed for a node."""
    without = write(tmp_path, '[defaults]\nusername = "api-reader"\n')
    assert (node_default_port(None), node_default_port(without)) == (None, None)
    assert node_default_port(write(tmp_path, GOOD)) == 8728

    for text, expected in (
        ('[defaults]\nport = "8728"\n', "[defaults]: port must be a whole number from 1 to 65535"),
        ("[defaults]\nprot = 8728\n", "[defaults]: unknown key 'prot': did you mean 'port'?"),
        ("defaults = 8728\n", "[defaults] must be a table"),
    ):
        path = write(tmp_path, text)
        with pytest.raises(ConfigError) as raised:
            node_default_port(path)
        assert str(raised.value) == f"{path}: {expected}"


def test_missing_password_names_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("EMERALD_ROUTER_PASSWORD", raising=False)
    path = write(tmp_path, GOOD)

    with pytest.raises(ConfigError) as raised:
        load_inventory(path)

    assert str(raised.value) == (
        f"{path}: [defaults]: password_env names EMERALD_ROUTER_PASSWORD, which is not set: "
        "export it or use password_file"
    )


def test_a_file_not_in_utf8(tmp_path: Path):
    path = tmp_path / "inventory.toml"
    path.write_bytes(b"[defaults]\nusername = 'a\xf1o'\n")
    with pytest.raises(ConfigError, match=r"not valid TOML .*written in UTF-8"):
        load_inventory(path)


def test_control_characters_in_names_are_refused(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("EMERALD_ROUTER_PASSWORD", "x")
    text = GOOD.replace('name = "core-1"', 'name = "core\\u00001"')
    with pytest.raises(ConfigError, match=r"routers\[1\].*name holds a control character"):
        load_inventory(write(tmp_path, text))


def test_missing_file(tmp_path: Path):
    with pytest.raises(ConfigError, match="inventory file not found"):
        load_inventory(tmp_path / "nope.toml")


def test_only_unknown_router(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("EMERALD_ROUTER_PASSWORD", "x")
    inventory = load_inventory(write(tmp_path, GOOD))
    assert [r.name for r in inventory.select(["edge-2"])] == ["edge-2"]
    with pytest.raises(ConfigError) as raised:
        inventory.select(["ghost", "edge-2", "spook"])
    assert str(raised.value) == (
        f"--only ghost, spook: no such router in {tmp_path / 'inventory.toml'}, whose routers "
        "are core-1, edge-2: fix the name"
    )


def test_settings_origins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("EMERALD_HOME", str(tmp_path))
    monkeypatch.setenv("EMERALD_WORKERS", "3")
    monkeypatch.delenv("EMERALD_DATABASE_URL", raising=False)
    settings = resolve_settings(timeout=4.0)
    assert (settings.workers.value, settings.workers.origin) == (3, "env EMERALD_WORKERS")
    assert (settings.timeout.value, settings.timeout.origin) == (4.0, "--timeout")
    assert settings.database_url.value == f"sqlite:///{tmp_path / 'emerald.db'}"
    assert settings.database_url.origin == "default"

    monkeypatch.setenv("EMERALD_WORKERS", "many")
    with pytest.raises(ConfigError, match="EMERALD_WORKERS='many' is not a whole number"):
        resolve_settings()
    monkeypatch.setenv("EMERALD_WORKERS", "0")
    with pytest.raises(ConfigError, match=r"EMERALD_WORKERS='0' is out of range \(1 to 86400\)"):
        resolve_settings()
    monkeypatch.setenv("EMERALD_WORKERS", "2")
    monkeypatch.setenv("EMERALD_TIMEOUT", "soon")
    with pytest.raises(ConfigError, match="EMERALD_TIMEOUT='soon' is not a number"):
        resolve_settings()
    monkeypatch.setenv("EMERALD_TIMEOUT", "-1")
    with pytest.raises(ConfigError, match=r"\(above 0, at most 86400 seconds\): fix or unset"):
        resolve_settings()
