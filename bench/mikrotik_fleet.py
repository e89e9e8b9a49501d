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
from pathlib import Path

import librouteros

from emerald_cli.lab.dataset import build_fleet
from emerald_cli.lab.routeros.inventory import write_inventory
from emerald_cli.lab.routeros.server import RouterLab

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

    fleet = build_fleet(seed=5, routers=options.routers, secrets=options.secrets)
    with RouterLab(fleet, latency=options.latency) as lab:
        serial = _serial_loop(lab, MENUS)
        sync, peak = _emerald_sync(lab, workdir / "fleet", options.database_url)
    print(
        f"fleet: {options.routers} routers x {options.secrets} secrets, "
        f"{options.latency * 1000:.0f} ms per reply"
    )
    print(f"  serial librouteros loop : {serial:8.2f} s")
    print(f"  emerald sync mikrotik   : {sync:8.2f} s   peak memory {peak:.0f} MiB")
    print(f"  ratio                   : {serial / sync:8.1f}x faster (target >= 10x)")

    big = build_fleet(seed=6, routers=1, secrets=options.big)
    with RouterLab(big) as lab:
        alone = _serial_loop(lab, ("/ppp/secret/print",))
        sync, peak = _emerald_sync(lab, workdir / "big", options.database_url)
    print(f"one router, {options.big} secrets")
    print(f"  librouteros, secrets only: {alone:7.2f} s")
    print(f"  emerald poll + write     : {sync:7.2f} s   peak memory {peak:.0f} MiB")
    print(f"  ratio                    : {sync / alone:7.2f}x of librouteros (target <= 2x)")


def _serial_loop(lab: RouterLab, menus: tuple[str, ...]) -> float:
    """What the ISP runs today: one router after another, librouteros as shipped."""
    started = time.perf_counter()
    for endpoint in lab.endpoints():
        api = librouteros.connect(
            endpoint.host, endpoint.username, endpoint.password, port=endpoint.port, timeout=60
        )
        for menu in menus:
            tuple(api(menu))
        api.close()
    return time.perf_counter() - started


def _emerald_sync(lab: RouterLab, folder: Path, database_url: str | None) -> tuple[float, float]:
    """Time the real command in a child process; return seconds and peak MiB."""
    folder.mkdir(parents=True)
    inventory = write_inventory(
        folder / "inventory.toml", lab.endpoints(), username=lab.username, timeout=120
    )
    environment = {
        **os.environ,
        **lab.environment(),
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
