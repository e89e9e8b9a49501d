"""`emerald lab serve` and `emerald demo`: the lab routers, for trying the product end to end.

The lab is a separate peer (it imports nothing of the product); these commands only start it,
write an inventory that points at it, and for the demo run the real sync against it.
"""

from __future__ import annotations

import errno
import os
import tempfile
import time
from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
import typer

from emerald_cli import console
from emerald_cli.accounts import ISPCubeAccount, SmartOLTAccount
from emerald_cli.commands.options import exits_cleanly, prepare
from emerald_cli.config import load_inventory
from emerald_cli.engine.database import open_store
from emerald_cli.engine.ispcube import sync_ispcube
from emerald_cli.engine.mikrotik import sync_mikrotik
from emerald_cli.engine.run import Progress
from emerald_cli.engine.smartolt import sync_smartolt
from emerald_cli.errors import UsageError
from emerald_cli.lab.billing import Billing, build_billing
from emerald_cli.lab.dataset import Fleet, build_fleet
from emerald_cli.lab.ispcube import ISPCubeLab
from emerald_cli.lab.ports import PortUnavailable
from emerald_cli.lab.routeros.inventory import write_inventory
from emerald_cli.lab.routeros.server import RouterLab, serve_forever
from emerald_cli.lab.saas import FAULT_MODES, LIST_FAULT_MODES
from emerald_cli.lab.smartolt import SmartOLTLab
from emerald_cli.sources.mikrotik.poll import RouterTarget

app = typer.Typer(
    rich_markup_mode=None,
    help="Fake routers, ISPCube and SmartOLT on loopback, for demos and tests.",
    no_args_is_help=True,
)

# The lab's own SaaS credentials: api key, client id, user, password; and SmartOLT's token.
LAB_ISPCUBE = ("lab-api-key", "77", "api", "lab-ispcube-password")
ISPCUBE_VARIABLES = (
    "EMERALD_ISPCUBE_API_KEY",
    "EMERALD_ISPCUBE_CLIENT_ID",
    "EMERALD_ISPCUBE_USER",
    "EMERALD_ISPCUBE_PASSWORD",
)
LAB_SMARTOLT_TOKEN = "lab-smartolt-token"


SAAS_LABS = {"ispcube": ISPCubeLab, "smartolt": SmartOLTLab}


def parse_fault(text: str) -> tuple[str, str, str, int]:
    """ "ispcube:customers:status=502" as (source, endpoint, mode, status)."""
    source, _, rest = text.partition(":")
    endpoint, _, mode = rest.partition(":")
    mode, equals, status = mode.partition("=")
    if source not in SAAS_LABS or endpoint not in SAAS_LABS[source].paths:
        names = {name: ", ".join(server.paths) for name, server in SAAS_LABS.items()}
        raise UsageError(
            f"--fault {text!r}: name ispcube:ENDPOINT ({names['ispcube']}) or "
            f"smartolt:ENDPOINT ({names['smartolt']})"
        )
    if mode not in FAULT_MODES:
        raise UsageError(f"--fault {text!r}: the mode is one of {', '.join(FAULT_MODES)}")
    if mode not in SAAS_LABS[source].fault_modes(endpoint):
        places = [
            f"{name}:{path}"
            for name, server in SAAS_LABS.items()
            for path in server.paths
            if mode in server.fault_modes(path)
        ]
        raise UsageError(
            f"--fault {text!r}: {mode} changes nothing there; it acts at {', '.join(places)}"
        )
    if equals and mode != "status":
        raise UsageError(f"--fault {text!r}: only the status mode takes =STATUS")
    if status and not (status.isdigit() and 400 <= int(status) <= 599):
        raise UsageError(
            f"--fault {text!r}: the status after = is an HTTP error code, 400 to 599, e.g. 502"
        )
    return source, endpoint, mode, int(status or 500)


def parse_faults(texts: list[str]) -> list[tuple[str, str, str, int]]:
    """Every --fault, refusing a second one at the same endpoint: only the last would act."""
    faults: dict[tuple[str, str], tuple[str, str, str, int]] = {}
    for text in texts:
        source, endpoint, mode, status = parse_fault(text)
        if (source, endpoint) in faults:
            raise UsageError(
                f"--fault {text!r}: {source}:{endpoint} already has a fault; give one per endpoint"
            )
        faults[source, endpoint] = (source, endpoint, mode, status)
    return list(faults.values())


def _live_world(
    seed: int, routers: int, secrets: int, customers: int | None, connections: int | None
) -> tuple[Fleet, Billing]:
    """The seeded routers and SaaS data; the routers' sessions age while the lab runs, as on
    a real router."""
    fleet = build_fleet(seed=seed, routers=routers, secrets=secrets)
    billing = build_billing(fleet, customers=customers)
    if connections is not None:
        billing = build_billing(
            fleet,
            customers=customers,
            extra_connections=max(0, connections - len(billing.connections)),
        )

    started = time.monotonic()
    for router in fleet.routers:
        router.session_age = lambda: time.monotonic() - started
    return fleet, billing


# The demo's staged trouble: what an operator meets on a real night.
DEMO_FAULTS = {"router-004": "wrong_password", "router-005": "refuse"}


@app.command("serve")
@exits_cleanly
def serve(
    routers: Annotated[int, typer.Option(min=1, help="How many routers.")] = 5,
    secrets: Annotated[int, typer.Option(min=0, help="PPP secrets per router.")] = 100,
    latency: Annotated[
        float,
        typer.Option(
            min=0, help="Seconds every router, ISPCube and SmartOLT wait before each answer."
        ),
    ] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed of the generated data.")] = 7,
    base_port: Annotated[
        int,
        typer.Option(
            min=0,
            max=65535,
            help="Port of the first router; the other routers, then ISPCube and SmartOLT, take "
            "the ports after it (0 = free ports).",
        ),
    ] = 18728,
    inventory: Annotated[
        Path, typer.Option(help="Where to write the inventory that points at the lab.")
    ] = Path("lab-inventory.toml"),
    findings: Annotated[
        Path, typer.Option(help="Where to write the mismatches seeded across the sources.")
    ] = Path("lab-findings.json"),
    customers: Annotated[
        int | None, typer.Option(min=1, help="ISPCube customers (default: one per secret).")
    ] = None,
    connections: Annotated[
        int | None, typer.Option(min=1, help="ISPCube connections in all, for volume.")
    ] = None,
    fault: Annotated[
        list[str] | None,
        typer.Option(
            help="SOURCE:ENDPOINT:MODE[=STATUS], e.g. ispcube:customers:status=502 or "
            f"smartolt:onus:hang (repeatable, one per endpoint). Modes: "
            f"{', '.join(FAULT_MODES)} ({' and '.join(LIST_FAULT_MODES)} at ispcube:customers "
            "only).",
        ),
    ] = None,
    token_requests: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="ISPCube refuses each token after this many data requests, so that a sync "
            "logs in again mid-run (a lab sync makes five or more).",
        ),
    ] = None,
    token_ttl: Annotated[
        float | None,
        typer.Option(
            min=1,
            help="ISPCube tokens expire after these seconds; a lab sync takes about one, so "
            "--token-requests is the way to see an expiry mid-run.",
        ),
    ] = None,
    smartolt_budget: Annotated[
        int, typer.Option(min=1, help="SmartOLT calls allowed per hour.")
    ] = 1000,
    smartolt_limit_answer: Annotated[
        str,
        typer.Option(
            help="How SmartOLT refuses over its limits: 429 or 403 with Retry-After, or 200."
        ),
    ] = "429",
) -> None:
    """Serve lab routers, ISPCube and SmartOLT until Ctrl-C; print the settings to use them."""
    faults = parse_faults(fault or [])
    if smartolt_limit_answer not in ("429", "403", "200"):
        raise UsageError("--smartolt-limit-answer is 429, 403 or 200")
    last_port = base_port + routers + 1  # SmartOLT's, after the routers' and ISPCube's
    if base_port and last_port > 65535:
        raise UsageError(
            f"--base-port {base_port} with {routers} routers needs ports up to {last_port}, "
            "past 65535: choose a lower one, or --base-port 0 for free ports"
        )
    fleet, billing = _live_world(seed, routers, secrets, customers, connections)
    lab = RouterLab(fleet, latency=latency, base_port=base_port or None)
    ispcube = smartolt = None
    try:
        lab.start()
        for endpoint in lab.endpoints():
            billing.set_node_endpoint(endpoint.name, endpoint.host, endpoint.port)
        ispcube, smartolt = start_saas(
            billing,
            faults,
            first_port=base_port and base_port + routers,
            latency=latency,
            token_requests=token_requests,
            token_ttl=token_ttl,
            smartolt_budget=smartolt_budget,
            smartolt_limit_answer=smartolt_limit_answer,
        )
        write_inventory(inventory, lab.endpoints(), username=lab.username)
        billing.write_findings(findings)

        for endpoint in lab.endpoints():
            console.note(f"{endpoint.name}  {endpoint.host}:{endpoint.port}  {endpoint.version}")
        variables = {
            **lab.environment(),
            "EMERALD_ROUTER_USERNAME": lab.username,
            "EMERALD_ISPCUBE_URL": ispcube.url,
            **dict(zip(ISPCUBE_VARIABLES, LAB_ISPCUBE, strict=True)),
            "EMERALD_SMARTOLT_URL": smartolt.url,
            "EMERALD_SMARTOLT_TOKEN": LAB_SMARTOLT_TOKEN,
        }
        # The export lines are data (`emerald lab serve > lab.env`); the rest is for people.
        for name, value in variables.items():
            console.data.print(f"export {name}={value}", markup=False, highlight=False)
        console.note(f"inventory: {inventory}\nfindings: {findings}\nCtrl-C stops the lab.")
        serve_forever(lab)
    except PortUnavailable as error:
        if error.errno == errno.EADDRINUSE:
            fix = "stop what holds it (another lab?), or pass --base-port 0 for free ports"
        else:
            fix = "choose another --base-port, or --base-port 0 for free ports"
        raise UsageError(f"{error}: {fix}") from None
    finally:
        for server in (ispcube, smartolt):
            if server is not None:
                server.stop()
        lab.stop()


def start_saas(
    billing: Billing,
    faults: list[tuple[str, str, str, int]],
    *,
    first_port: int,
    latency: float,
    token_requests: int | None,
    token_ttl: float | None,
    smartolt_budget: int,
    smartolt_limit_answer: str,
) -> tuple[ISPCubeLab, SmartOLTLab]:
    """ISPCube and SmartOLT as `lab serve` sets them up, started; tests use them the same way.

    They listen on `first_port` and the port after it, or on free ports when it is 0.
    """
    ispcube = ISPCubeLab(
        billing,
        *LAB_ISPCUBE,
        token_ttl=token_ttl,
        expire_token_after=token_requests,
        latency=latency,
        port=first_port,
    )
    smartolt = SmartOLTLab(
        billing,
        LAB_SMARTOLT_TOKEN,
        hourly_budget=smartolt_budget,
        rate_limit_style=smartolt_limit_answer,  # type: ignore[arg-type]
        latency=latency,
        port=first_port and first_port + 1,
    )
    servers = {"ispcube": ispcube, "smartolt": smartolt}
    for source, endpoint, mode, status in faults:
        servers[source].fault(endpoint, mode, status=status)

    ispcube.start()
    try:
        smartolt.start()
    except BaseException:
        ispcube.stop()
        raise
    return ispcube, smartolt


def demo(
    routers: Annotated[int, typer.Option(min=1, help="How many lab routers.")] = 6,
    secrets: Annotated[int, typer.Option(min=0, help="PPP secrets per router.")] = 500,
) -> None:
    """Sync a lab fleet twice into a temporary SQLite file, then its ISPCube and SmartOLT."""
    _run_demo(routers, secrets)


@exits_cleanly
def _run_demo(routers: int, secrets: int) -> None:
    with tempfile.TemporaryDirectory(prefix="emerald-demo-") as folder:
        workdir = Path(folder)
        os.environ.setdefault("EMERALD_HOME", str(workdir))
        settings = prepare(database_url=f"sqlite:///{workdir / 'demo.db'}")
        fleet = build_fleet(seed=7, routers=routers, secrets=secrets)

        with RouterLab(fleet) as lab:
            for name, fault in DEMO_FAULTS.items():
                if name in {router.name for router in fleet.routers}:
                    lab.configure(name, fault=fault)
            inventory_path = workdir / "inventory.toml"
            write_inventory(inventory_path, lab.endpoints(), username=lab.username, timeout=3)
            os.environ.update(lab.environment())
            targets = load_inventory(inventory_path).routers
            engine = open_store(settings.database_url.value)

            console.note(f"demo: {routers} lab routers x {secrets} secrets -> {workdir}/demo.db")
            _sync(engine, targets, settings.workers.value, "first sync")

            _change_some_rows(fleet)
            console.note("demo: disabled 3 secrets and removed 1 on router-000; syncing again")
            _sync(engine, targets, settings.workers.value, "second sync")

            _billing_and_fibre(engine, fleet)
            engine.dispose()


def _sync(engine: sa.Engine, targets: list[RouterTarget], workers: int, title: str) -> None:
    show = console.interactive(json_output=False)
    console.note(f"--- {title}")
    with console.target_progress(len(targets), show) as progress:
        run = sync_mikrotik(
            engine,
            targets,
            workers=workers,
            progress=Progress(started=progress.started, finished=progress.finished),
        )
    console.print_summary(run.report)


def _billing_and_fibre(engine: sa.Engine, fleet: Fleet) -> None:
    """The same ISP's billing (ISPCube) and fibre (SmartOLT), served by the lab."""
    billing = build_billing(fleet, seed_router_mismatches=False)
    with (
        ISPCubeLab(billing, *LAB_ISPCUBE) as ispcube,
        SmartOLTLab(billing, LAB_SMARTOLT_TOKEN) as smartolt,
    ):
        console.note("--- ISPCube and SmartOLT")
        console.print_summary(
            sync_ispcube(engine, ISPCubeAccount(ispcube.url, *LAB_ISPCUBE)).report
        )
        account = SmartOLTAccount(smartolt.url, LAB_SMARTOLT_TOKEN)
        console.print_summary(sync_smartolt(engine, account).report)


def _change_some_rows(fleet: Fleet) -> None:
    router = fleet.router("router-000")
    for secret in router.secrets[5:8]:
        secret["disabled"] = "true" if secret["disabled"] == "false" else "false"
    router.secrets.pop()
