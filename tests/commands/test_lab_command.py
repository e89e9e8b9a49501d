"""`emerald lab serve` as an operator starts it: real servers, the settings to use them, faults."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from typer.testing import CliRunner

from emerald_cli.cli import app
from emerald_cli.commands.lab import ISPCUBE_VARIABLES, LAB_ISPCUBE, start_saas
from emerald_cli.lab.billing import build_billing
from emerald_cli.lab.dataset import build_fleet

# Reading the export lines waits at most this long for the lab to come up.
START_S = 60


@pytest.fixture(params=["429", "403"])
def limit_answer(request: pytest.FixtureRequest) -> str:
    """The status the lab's SmartOLT answers over its limit with (both carry Retry-After)."""
    return str(request.param)


@contextmanager
def lab_serve(tmp_path: Path, *options: str) -> Iterator[dict[str, str]]:
    """A `lab serve` process on free ports; the variables it printed. Stopped with Ctrl-C."""
    command = [sys.executable, "-m", "emerald_cli", "lab", "serve", "--base-port", "0", *options]
    process = subprocess.Popen(
        command,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "EMERALD_HOME": str(tmp_path / "home")},
    )
    variables: dict[str, str] = {}
    try:
        assert process.stdout is not None
        for line in process.stdout:
            name, _, value = line.removeprefix("export ").strip().partition("=")
            variables[name] = value
            if name == "EMERALD_SMARTOLT_TOKEN":
                break
        yield variables
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=START_S)
        except subprocess.TimeoutExpired:
            process.kill()  # not left serving after the test, whatever the test says
            raise


@pytest.fixture
def served(tmp_path: Path, limit_answer: str) -> Iterator[dict[str, str]]:
    """A `lab serve` process with a SmartOLT fault; the variables it printed."""
    with lab_serve(
        tmp_path,
        "--routers", "2", "--secrets", "5", "--fault", "smartolt:olts:status=502",
        "--smartolt-budget", "3", "--smartolt-limit-answer", limit_answer,
    ) as variables:  # fmt: skip
        yield variables


def test_lab_serve_applies_its_faults_and_limits(
    served: dict[str, str], limit_answer: str, tmp_path: Path
):
    url, headers = served["EMERALD_SMARTOLT_URL"], {"X-Token": served["EMERALD_SMARTOLT_TOKEN"]}

    olts = requests.get(f"{url}/system/get_olts", headers=headers, timeout=10)
    statuses = [
        requests.get(f"{url}/onu/get_onus_statuses", headers=headers, timeout=10) for _ in range(4)
    ]

    assert olts.status_code == 502
    # 3 calls an hour
    assert [answer.status_code for answer in statuses] == [200, 200, 200, int(limit_answer)]
    assert int(statuses[-1].headers["Retry-After"]) > 0
    assert (tmp_path / "lab-inventory.toml").is_file()
    assert (tmp_path / "lab-findings.json").is_file()


def test_lab_serve_latency_slows_ispcube_and_smartolt_too(tmp_path: Path):
    with lab_serve(tmp_path, "--routers", "1", "--secrets", "2", "--latency", "0.5") as variables:
        olts = requests.get(
            f"{variables['EMERALD_SMARTOLT_URL']}/system/get_olts",
            headers={"X-Token": variables["EMERALD_SMARTOLT_TOKEN"]},
            timeout=10,
        )
        login = requests.post(f"{variables['EMERALD_ISPCUBE_URL']}/sanctum/token", timeout=10)

    assert (olts.status_code, login.status_code) == (200, 401)
    assert min(olts.elapsed.total_seconds(), login.elapsed.total_seconds()) >= 0.5


def test_lab_serve_token_requests_refuses_a_token_past_them(tmp_path: Path):
    with lab_serve(tmp_path, "--routers", "1", "--secrets", "2", "--token-requests", "2") as lab:
        url = lab["EMERALD_ISPCUBE_URL"]
        headers = {
            "api-key": lab["EMERALD_ISPCUBE_API_KEY"],
            "client-id": lab["EMERALD_ISPCUBE_CLIENT_ID"],
            "login-type": "api",
        }
        body = {
            "username": lab["EMERALD_ISPCUBE_USER"],
            "password": lab["EMERALD_ISPCUBE_PASSWORD"],
        }
        login = requests.post(f"{url}/sanctum/token", json=body, headers=headers, timeout=10)
        headers["Authorization"] = f"Bearer {login.json()['token']}"
        plans = [
            requests.get(f"{url}/plans/plans_list", headers=headers, timeout=10) for _ in range(3)
        ]

    assert [answer.status_code for answer in (login, *plans)] == [200, 200, 200, 401]
    assert plans[-1].json() == {"message": "Unauthenticated."}


def test_a_sync_against_token_requests_logs_in_again_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str
):
    billing = build_billing(build_fleet(seed=7, routers=2, secrets=5))
    ispcube, smartolt = start_saas(
        billing,
        [],
        first_port=0,
        latency=0.0,
        token_requests=3,
        token_ttl=None,
        smartolt_budget=1000,
        smartolt_limit_answer="429",
    )
    monkeypatch.setenv("EMERALD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("EMERALD_ISPCUBE_URL", ispcube.url)
    for name, value in zip(ISPCUBE_VARIABLES, LAB_ISPCUBE, strict=True):
        monkeypatch.setenv(name, value)
    try:
        result = CliRunner().invoke(
            app, ["sync", "ispcube", "--json", "--database-url", database_url]
        )
    finally:
        ispcube.stop()
        smartolt.stop()

    assert result.exit_code == 0, result.stderr
    # plans, nodes, connections and two customer pages: the fourth request is refused, then
    # asked again with a second token.
    data_requests = sum(ispcube.request_count(name) for name in ispcube.paths if name != "token")
    assert (ispcube.tokens_issued, data_requests) == (2, 6)


def hold_port(offset: int) -> tuple[socket.socket, int]:
    """A socket listening on a port whose `offset` ports before it are free, and the first of
    those: a lab based there meets the held port at position `offset`."""
    for _ in range(100):
        holder = socket.socket()
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        base = holder.getsockname()[1] - offset
        if all(_free(base + position) for position in range(offset)):
            return holder, base
        holder.close()
    raise RuntimeError("no free run of ports on 127.0.0.1")


def _free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@pytest.mark.timeout(20)  # a lab that started after all would serve until then, and fail
@pytest.mark.parametrize(
    ("offset", "server"), [(0, "router router-000"), (1, "ISPCube"), (2, "SmartOLT")]
)
def test_a_port_taken_is_one_line_and_exit_two(tmp_path: Path, offset: int, server: str):
    holder, base = hold_port(offset)
    files = ["--inventory", str(tmp_path / "i.toml"), "--findings", str(tmp_path / "f.json")]
    arguments = ["lab", "serve", "--routers", "1", "--secrets", "1", "--base-port", str(base)]

    with holder:
        result = CliRunner().invoke(app, [*arguments, *files])

    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {server} cannot listen on 127.0.0.1:{base + offset} (address already in use): "
        "stop what holds it (another lab?), or pass --base-port 0 for free ports\n"
    )
    assert result.stdout == ""
    assert _free(base)  # the routers started before the failure were closed


@pytest.mark.timeout(20)  # a lab that started after all would serve until then, and fail
def test_ports_past_65535_are_refused_before_any_is_taken(tmp_path: Path):
    files = ["--inventory", str(tmp_path / "i.toml"), "--findings", str(tmp_path / "f.json")]
    arguments = ["lab", "serve", "--base-port", "65530", "--routers", "5", "--secrets", "1"]

    result = CliRunner().invoke(app, [*arguments, *files])

    assert result.exit_code == 2
    assert result.stderr == (
        "error: --base-port 65530 with 5 routers needs ports up to 65536, past 65535: choose a "
        "lower one, or --base-port 0 for free ports\n"
    )


@pytest.mark.parametrize(
    ("faults", "said"),
    [
        (["bogus:x:y"], "--fault 'bogus:x:y': name ispcube:ENDPOINT (token, customers"),
        (["smartolt:onus:boom"], "the mode is one of status, hang"),
        (["ispcube:customers:status=bad"], "the status after = is an HTTP error code, 400"),
        (
            ["smartolt:onus:repeat_page"],
            "--fault 'smartolt:onus:repeat_page': repeat_page changes nothing there; "
            "it acts at ispcube:customers",
        ),
        (
            ["ispcube:plans:endless"],
            "--fault 'ispcube:plans:endless': endless changes nothing there; "
            "it acts at ispcube:customers",
        ),
        (
            ["smartolt:olts:hang=502"],
            "--fault 'smartolt:olts:hang=502': only the status mode takes =STATUS",
        ),
        (
            ["ispcube:plans:status=200"],
            "--fault 'ispcube:plans:status=200': the status after = is an HTTP error code, "
            "400 to 599, e.g. 502",
        ),
        (
            ["ispcube:plans:hang", "ispcube:plans:status=502"],
            "--fault 'ispcube:plans:status=502': ispcube:plans already has a fault; "
            "give one per endpoint",
        ),
    ],
)
@pytest.mark.timeout(20)  # a fault taken would serve until then, and fail
def test_a_bad_fault_is_exit_two(faults: list[str], said: str, tmp_path: Path):
    arguments = [argument for fault in faults for argument in ("--fault", fault)]
    small = ["--routers", "1", "--secrets", "1", "--base-port", "0"]
    files = ["--inventory", str(tmp_path / "i.toml"), "--findings", str(tmp_path / "f.json")]

    result = CliRunner().invoke(app, ["lab", "serve", *small, *files, *arguments])

    assert result.exit_code == 2
    assert said in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert result.stdout == ""
