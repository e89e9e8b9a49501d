"""Record hashes: they change with the record, the settings and the code that types it."""

from __future__ import annotations

import shutil
from pathlib import Path

import sqlalchemy as sa

import emerald_cli
from emerald_cli.accounts import ISPCubeAccount
from emerald_cli.engine.ispcube import sync_ispcube
from emerald_cli.engine.record_hash import RecordHash, code_digest, source_digest
from emerald_cli.engine.run import SyncRun
from emerald_cli.lab.billing import build_billing
from emerald_cli.lab.dataset import build_fleet
from emerald_cli.lab.ispcube import ISPCubeLab
from emerald_cli.store import schema

RECORD = {"id": 1001, "created_at": "2023-03-01T13:10:00.000000Z", "debt": "0.00"}


def test_the_same_record_under_the_same_settings_hashes_the_same() -> None:
    assert RecordHash("customers", "UTC")(RECORD) == RecordHash("customers", "UTC")(dict(RECORD))


def test_the_hash_changes_with_the_record_the_stream_and_the_settings() -> None:
    hashes = {
        RecordHash("customers", "UTC")(RECORD),
        RecordHash("customers", "UTC")({**RECORD, "debt": "0.01"}),
        RecordHash("connections", "UTC")(RECORD),
        RecordHash("customers", "America/Argentina/Buenos_Aires")(RECORD),
        # The settings are told apart from the stream name, not run together.
        RecordHash("customersUTC")(RECORD),
    }

    assert len(hashes) == 5


def test_hashes_fit_a_signed_64_bit_column() -> None:
    value = RecordHash("customers")(RECORD)

    assert -(2**63) <= value < 2**63


def copy_of_the_package(tmp_path: Path) -> Path:
    root = tmp_path / "emerald_cli"
    shutil.copytree(Path(emerald_cli.__file__).parent, root)
    return root


def test_the_source_digest_follows_the_typing_code_only(tmp_path: Path) -> None:
    root = copy_of_the_package(tmp_path)
    before = source_digest(root)

    with (root / "commands" / "runs.py").open("a") as file:
        file.write("\n# a command is no typing code\n")
    after_command = source_digest(root)
    with (root / "sources" / "values.py").open("a") as file:
        file.write("\n# a normaliser is\n")
    after_normaliser = source_digest(root)

    assert before == after_command == code_digest()
    assert after_normaliser not in (None, before)


def test_a_tree_without_the_typing_code_has_no_source_digest(tmp_path: Path) -> None:
    assert source_digest(tmp_path) is None


def test_rows_hashed_by_other_code_are_compared_once_not_rewritten(engine: sa.Engine) -> None:
    """After an upgrade no stored hash matches: each row is typed and compared in full, and
    only the rows whose values differ are written as changed."""
    billing = build_billing(build_fleet(seed=11, routers=3, secrets=20))
    customers = schema.customers
    with ISPCubeLab(billing, "lab-key", "77", "api", "lab-pass") as lab:
        account = ISPCubeAccount(lab.url, "lab-key", "77", "api", "lab-pass", timeout=5.0)
        sync_ispcube(engine, account)
        with engine.begin() as conn:
            conn.execute(customers.update().values(content_hash=1))
        billing.customers[0]["name"] = "CLIENTE RENOMBRADO"

        upgraded = sync_ispcube(engine, account)
        with engine.connect() as conn:
            rehashed = dict(
                conn.execute(sa.select(customers.c.customer_id, customers.c.content_hash)).all()
            )
        again = sync_ispcube(engine, account)

    def changes(run: SyncRun) -> dict[str, int]:
        return next(t for t in run.report.targets if t.name == "customers").detail["customers"]

    listed = len(billing.customers)
    assert changes(upgraded) == {
        "inserted": 0,
        "updated": 1,
        "unchanged": listed - 1,
        "removed": 0,
    }
    assert changes(again) == {"inserted": 0, "updated": 0, "unchanged": listed, "removed": 0}
    assert 1 not in rehashed.values()
    with engine.connect() as conn:
        names = dict(conn.execute(sa.select(customers.c.customer_id, customers.c.name)).all())
    assert names[billing.customers[0]["id"]] == "CLIENTE RENOMBRADO"
