"""The ISPCube and SmartOLT accounts: where each value comes from, and the one-line refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from emerald_cli.accounts import ispcube_account, smartolt_account
from emerald_cli.errors import ConfigError, NotConfigured

ISPCUBE_ENV = (
    "EMERALD_ISPCUBE_URL",
    "EMERALD_ISPCUBE_API_KEY",
    "EMERALD_ISPCUBE_CLIENT_ID",
    "EMERALD_ISPCUBE_USER",
    "EMERALD_ISPCUBE_PASSWORD",
    "EMERALD_SMARTOLT_URL",
    "EMERALD_SMARTOLT_TOKEN",
    "EMERALD_TIME_ZONE",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ISPCUBE_ENV:
        monkeypatch.delenv(variable, raising=False)
        monkeypatch.delenv(f"{variable}_FILE", raising=False)


def config_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "emerald.toml"
    path.write_text(text)
    return path


FULL_ISPCUBE = """
[ispcube]
url = "https://online99.ispcube.com/api"
api_key = "key-from-file"
client_id = 77
username = "emerald"
password = "pass-from-file"
"""


def test_every_value_can_come_from_the_config_file(tmp_path: Path) -> None:
    account = ispcube_account(config_file(tmp_path, FULL_ISPCUBE))

    assert (account.url, account.api_key, account.client_id, account.username) == (
        "https://online99.ispcube.com/api",
        "key-from-file",
        "77",
        "emerald",
    )
    assert account.origins["password"] == f"{tmp_path / 'emerald.toml'} [ispcube]"
    assert (account.zone, account.timeout, account.retries) == (
        "America/Argentina/Buenos_Aires",
        120.0,
        3,
    )


def test_a_variable_beats_its_file_which_beats_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = config_file(tmp_path, FULL_ISPCUBE)
    secret = tmp_path / "password"
    secret.write_text("pass-from-secret\n")
    monkeypatch.setenv("EMERALD_ISPCUBE_PASSWORD_FILE", str(secret))
    monkeypatch.setenv("EMERALD_ISPCUBE_API_KEY", "key-from-env")
    monkeypatch.setenv("EMERALD_ISPCUBE_API_KEY_FILE", str(secret))

    account = ispcube_account(config)

    assert (account.api_key, account.origins["api_key"]) == (
        "key-from-env",
        "env EMERALD_ISPCUBE_API_KEY",
    )
    assert (account.password, account.origins["password"]) == (
        "pass-from-secret",
        f"file {secret}",
    )


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        (
            '[smartolt]\nurl = "https://isp.smartolt.com/api"\n',
            ConfigError,
            "smartolt setting token is missing: set EMERALD_SMARTOLT_TOKEN (or "
            "EMERALD_SMARTOLT_TOKEN_FILE) or token in [smartolt] of {config}",
        ),
        # A source given nothing at all is one this site does not use, not a mistake.
        (
            '[ispcube]\nurl = "https://online99.ispcube.com/api"\n',
            NotConfigured,
            "smartolt is not configured: set EMERALD_SMARTOLT_URL (or "
            "EMERALD_SMARTOLT_URL_FILE) or url in [smartolt] of {config}",
        ),
    ],
)
def test_a_missing_value_names_the_variable_and_the_config_key(
    tmp_path: Path, text: str, kind: type, expected: str
) -> None:
    config = config_file(tmp_path, text)

    with pytest.raises(ConfigError) as caught:
        smartolt_account(config)

    assert type(caught.value) is kind
    assert str(caught.value) == expected.format(config=config)


def test_the_time_zone_comes_from_the_environment_or_the_section(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = config_file(tmp_path, FULL_ISPCUBE + 'time_zone = "America/Lima"\n')

    from_section = ispcube_account(config).zone
    monkeypatch.setenv("EMERALD_TIME_ZONE", "UTC")
    from_environment = ispcube_account(config).zone
    monkeypatch.setenv("EMERALD_TIME_ZONE", "Mars/Olympus_Mons")
    with pytest.raises(ConfigError, match=r"time zone 'Mars/Olympus_Mons'.* is unknown"):
        ispcube_account(config)

    assert (from_section, from_environment) == ("America/Lima", "UTC")


def test_a_url_with_a_password_is_refused_without_showing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EMERALD_SMARTOLT_URL", "https://admin:s3cret@isp.smartolt.com/api")
    monkeypatch.setenv("EMERALD_SMARTOLT_TOKEN", "token")

    with pytest.raises(ConfigError) as caught:
        smartolt_account(None)

    assert "s3cret" not in str(caught.value)
    assert str(caught.value) == (
        "the URL from env EMERALD_SMARTOLT_URL carries a user name or password: remove them, "
        "the API credentials have settings of their own"
    )


def test_a_url_that_is_not_http_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMERALD_SMARTOLT_URL", "isp.smartolt.com/api")
    monkeypatch.setenv("EMERALD_SMARTOLT_TOKEN", "token")

    with pytest.raises(ConfigError, match="is not an http\\(s\\) URL: write it like https"):
        smartolt_account(None)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("calls_per_hour = 0", "[smartolt] calls_per_hour must be a whole number from 1"),
        (
            "full_exports_per_hour = 61",
            "full_exports_per_hour must be a whole number from 1 to 60",
        ),
        ("page_size = 101", "[smartolt] page_size must be a whole number from 1 to 100"),
        ("timeout = 0", "[smartolt] timeout must be a number of seconds above 0"),
    ],
)
def test_smartolt_settings_out_of_range_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, setting: str, message: str
) -> None:
    monkeypatch.setenv("EMERALD_SMARTOLT_URL", "https://isp.smartolt.com/api")
    monkeypatch.setenv("EMERALD_SMARTOLT_TOKEN", "token")
    config = config_file(tmp_path, f"[smartolt]\n{setting}\n")

    with pytest.raises(ConfigError) as caught:
        smartolt_account(config)

    assert message in str(caught.value)
