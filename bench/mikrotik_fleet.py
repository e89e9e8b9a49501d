"""Benchmark, run by hand (`make bench`): `emerald sync mikrotik` against what the ISP does today.

1. A lab of 200 routers x 500 secrets answering every reply 100 ms late: a full
   `emerald sync mikrotik` (poll, write, history, in a fresh SQLite file) against a plain serial
   loop reading the same menus of the same routers one after another with librouteros.
   Target: at least 10x faster.
2. One router with 50,000 secrets: poll and write against librouteros reading that table
   alone. Target: within 2x.

Peak memory is the largest resident size of any process of the sync (parent or worker).
Flags: --routers, --secrets, --latency, --big (rows of part 2), --database-url.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import librouteros

LAB_USERNAME, LAB_PASSWORD = "api-reader", "lab-password"

MENUS = (
    "/system/identity/print",
    "/system/resource/print",
    "/ppp/secret/print",
    "/ppp/active/print",
    "/ppp/profile/print",
    "/queue/simple/print",
)

# Runs the command and reports the largest resident size among it and its worker processes.
PEAK_WRAPPER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:]).returncode\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def main() -> None:
    options = _arguments()
    workdir = Path(tempfile.mkdtemp(prefix="emerald-bench-"))

    fleet = ["--routers", str(options.routers), "--secrets", str(options.secrets)]
    with _lab(workdir / "fleet", [*fleet, "--latency", str(options.latency)]) as inventory:
        serial = _serial_loop(inventory, MENUS)
        sync, peak = _emerald_sync(inventory, options.database_url)
    print(
        f"fleet: {options.routers} routers x {options.secrets} secrets, "
        f"{options.latency * 1000:.0f} ms per reply"
    )
    print(f"  serial librouteros loop : {serial:8.2f} s")
    print(f"  emerald sync mikrotik   : {sync:8.2f} s   peak memory {peak:.0f} MiB")
    print(f"  ratio                   : {serial / sync:8.1f}x faster (target >= 10x)")

    with _lab(workdir / "big", ["--routers", "1", "--secrets", str(options.big)]) as inventory:
        alone = _serial_loop(inventory, ("/ppp/secret/print",))
        sync, peak = _emerald_sync(inventory, options.database_url)
    print(f"one router, {options.big} secrets")
    print(f"  librouteros, secrets only: {alone:7.2f} s")
    print(f"  emerald poll + write     : {sync:7.2f} s   peak memory {peak:.0f} MiB")
    print(f"  ratio                    : {sync / alone:7.2f}x of librouteros (target <= 2x)")


@contextmanager
def _lab(folder: Path, arguments: list[str]) -> Iterator[Path]:
    """The lab in a process of its own, so it never competes with the timed side for the GIL."""
    folder.mkdir(parents=True)
    inventory = folder / "inventory.toml"
    command = [sys.executable, "-m", "emerald_cli.lab.routeros", "--inventory", str(inventory)]
    lab = subprocess.Popen([*command, *arguments], stdout=subprocess.PIPE)
    try:
        assert lab.stdout is not None
        while not lab.stdout.readline().startswith(b"password in"):
            if lab.poll() is not None:
                raise SystemExit("the lab did not start")
        yield inventory
    finally:
        lab.terminate()
        lab.wait(timeout=30)


def _serial_loop(inventory: Path, menus: tuple[str, ...]) -> float:
    """What the ISP runs today: one router after another, librouteros as shipped."""
    routers = tomllib.loads(inventory.read_text(encoding="utf-8"))["routers"]
    started = time.perf_counter()
    for router in routers:
        api = librouteros.connect(
            router["host"], LAB_USERNAME, LAB_PASSWORD, port=router["port"], timeout=60
        )
        for menu in menus:
            tuple(api(menu))
        api.close()
    return time.perf_counter() - started


def _emerald_sync(inventory: Path, database_url: str | None) -> tuple[float, float]:
    """Time the real command in a child process; return seconds and peak MiB."""
    folder = inventory.parent
    environment = {
        **os.environ,
        "EMERALD_ROUTER_PASSWORD": LAB_PASSWORD,
        "EMERALD_TIMEOUT": "120",
        "EMERALD_HOME": str(folder),
        "EMERALD_DATABASE_URL": database_url or f"sqlite:///{folder / 'bench.db'}",
    }
    emerald = Path(sys.executable).with_name("emerald")
    subprocess.run([emerald, "db", "upgrade"], env=environment, check=True, capture_output=True)

    started = time.perf_counter()
    finished = subprocess.run(
        [
            sys.executable,
            "-c",
            PEAK_WRAPPER,
            emerald,
            "sync",
            "mikrotik",
            "--inventory",
            inventory,
            "--json",
        ],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started

    report = json.loads(finished.stdout)
    if report["status"] != "ok":
        raise SystemExit(f"the benchmark sync did not succeed: {finished.stdout[:500]}")
    peak_kib = int(finished.stderr.strip().splitlines()[-1])
    return elapsed, peak_kib / 1024


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routers", type=int, default=200)
    parser.add_argument("--secrets", type=int, default=500)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--big", type=int, default=50_000)
    parser.add_argument("--database-url", default=None)
    return parser.parse_args()


if __name__ == "__main__":
    main()
