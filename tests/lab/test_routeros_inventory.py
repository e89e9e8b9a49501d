"""The TOML inventory the lab writes, and the `python -m emerald_cli.lab.routeros` entry."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import librouteros

from emerald_cli.lab.routeros import RouterEndpoint, RouterLab, write_inventory


def endpoint(name: str, port: int) -> RouterEndpoint:
    return RouterEndpoint(
        name=name,
        host="127.0.0.1",
        port=port,
        tls=False,
        tls_verify=True,
        tls_anonymous=False,
        ca_path=None,
        username="api-reader",
        password="x",
        password_env=None,
        encoding="utf-8",
        version="7.15.3 (stable)",
        fault=None,
    )


def test_inventory_text_has_the_documented_shape(tmp_path: Path) -> None:
    path = write_inventory(tmp_path / "lab.toml", [endpoint("router-000", 18728)], "api-reader")

    assert path.read_text(encoding="utf-8") == (
        "[defaults]\n"
        'username = "api-reader"\n'
        'password_env = "EMERALD_ROUTER_PASSWORD"\n'
        "port = 8728\n"
        "timeout = 10\n"
        "tls = false\n"
        "\n"
        "[[routers]]\n"
        'name = "router-000"\n'
        'host = "127.0.0.1"\n'
        "port = 18728\n"
    )


def test_inventory_writes_only_what_differs_per_router(lab: RouterLab, tmp_path: Path) -> None:
    lab.configure("router-000", fault="legacy_login")
    lab.configure("router-001", fault="tls_only", password="otra", password_env="ROUTER_B_PASS")
    lab.configure("router-002", fault="tls_cert")
    ports = [item.port for item in lab.endpoints()]

    path = write_inventory(tmp_path / "lab.toml", lab.endpoints(), "api-reader", timeout=3)

    assert tomllib.loads(path.read_text(encoding="utf-8")) == {
        "defaults": {
            "username": "api-reader",
            "password_env": "EMERALD_ROUTER_PASSWORD",
            "port": 8728,
            "timeout": 3,
            "tls": False,
        },
        "routers": [
            {"name": "router-000", "host": "127.0.0.1", "port": ports[0]},
            {
                "name": "router-001",
                "host": "127.0.0.1",
                "port": ports[1],
                "tls": True,
                "tls_verify": False,
                "tls_anonymous": True,
                "password_env": "ROUTER_B_PASS",
            },
            {
                "name": "router-002",
                "host": "127.0.0.1",
                "port": ports[2],
                "tls": True,
                "tls_ca_file": str(lab.tls_ca_path),
            },
        ],
    }
    assert lab.environment()["ROUTER_B_PASS"] == "otra"


def test_module_entry_serves_writes_the_inventory_and_stops_on_sigterm(tmp_path: Path) -> None:
    inventory = tmp_path / "lab.toml"
    environment = {key: value for key, value in os.environ.items() if "EMERALD" not in key}
    command = [sys.executable, "-m", "emerald_cli.lab.routeros", "--routers", "2"]
    command += ["--secrets", "5", "--inventory", str(inventory), "--fault", "router-001=refuse"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=environment)
    assert process.stdout is not None
    try:
        lines = [process.stdout.readline().strip() for _ in range(4)]
        routers = tomllib.loads(inventory.read_text(encoding="utf-8"))["routers"]
        api = librouteros.connect(
            "127.0.0.1", "api-reader", "lab-password", port=routers[0]["port"], timeout=3
        )
        identity = list(api("/system/identity/print"))
        api.close()
    finally:
        process.send_signal(signal.SIGTERM)
        returncode = process.wait(timeout=10)

    assert lines == [
        f"inventory: {inventory}",
        f"router-000 127.0.0.1:{routers[0]['port']} plain version=7.15.3 encoding=utf-8 "
        "secrets=5 fault=none",
        f"router-001 127.0.0.1:{routers[1]['port']} plain version=7.18.2 encoding=latin-1 "
        "secrets=5 fault=refuse",
        "password in $EMERALD_ROUTER_PASSWORD; Ctrl-C to stop",
    ]
    assert identity == [{"name": "router-000"}]
    assert returncode == 0


def test_module_entry_on_a_port_taken_says_so_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        command = [sys.executable, "-m", "emerald_cli.lab.routeros", "--base-port", str(port)]
        # A lab that started after all would serve until the timeout, and fail the test.
        result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)

    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        f"router router-000 cannot listen on 127.0.0.1:{port} (address already in use): free "
        "it, or leave out --base-port for free ports\n"
    )
