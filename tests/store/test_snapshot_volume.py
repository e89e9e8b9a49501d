"""50,000 secrets in one router: the write stays a handful of batched statements."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from emerald_cli.store.schema import ppp_secrets
from emerald_cli.store.snapshot import ChangeCounts, upsert_router, write_snapshot

logger = logging.getLogger(__name__)

ROWS = 50_000
T0 = datetime(2024, 12, 3, 10, 0, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)
KEY = ("router_id", "name")


def secret(number: int, profile: str = "FIBRA-50") -> dict[str, Any]:
    return {
        "name": f"pp-{number:06d}",
        "service": "pppoe",
        "caller_id": "",
        "profile": profile,
        "remote_address": f"100.64.{number // 256 % 256}.{number % 256}",
        "limit_bytes_in": "0",
        "limit_bytes_out": "0",
        "last_logged_out": "2024-12-01 08:15:00",
        "last_caller_id": f"AA:BB:CC:00:{number // 256 % 256:02X}:{number % 256:02X}",
        "last_disconnect_reason": "peer-request",
        "disabled": "false",
        "comment": f"Cliente {number}",
        "ros_id": f"*{number + 1:X}",
    }


def timed_write(
    engine: sa.Engine, router_id: int, rows: list[dict[str, Any]], now: datetime
) -> ChangeCounts:
    started = time.perf_counter()
    with engine.begin() as conn:
        counts = write_snapshot(conn, ppp_secrets, {"router_id": router_id}, KEY, rows, now)
    logger.info(
        "%s rows=%d in %.2fs: %s",
        engine.dialect.name,
        len(rows),
        time.perf_counter() - started,
        counts,
    )
    return counts


@pytest.mark.slow
def test_fifty_thousand_rows_in_one_scope(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        router_id = upsert_router(conn, name="core-big", host="10.0.0.1", port=8728, now=T0)
    first = [secret(number) for number in range(ROWS)]
    # 1% change profile, 250 disappear, 250 new ones appear; everything else is the same.
    second = [
        secret(number, "CORTE" if number % 100 == 0 else "FIBRA-50")
        for number in range(250, ROWS + 250)
    ]

    inserted = timed_write(engine, router_id, first, T0)
    changed = timed_write(engine, router_id, second, T1)

    assert inserted == ChangeCounts(inserted=ROWS)
    assert changed == ChangeCounts(inserted=250, updated=497, unchanged=49_253, removed=250)
    with engine.connect() as conn:
        summary = conn.execute(
            sa.select(
                sa.func.count(),
                sa.func.count(ppp_secrets.c.removed_at),
                sa.func.count().filter(ppp_secrets.c.last_seen_at == T1),
                sa.func.count().filter(ppp_secrets.c.profile == "CORTE"),
            ).where(ppp_secrets.c.router_id == router_id)
        ).one()
    assert tuple(summary) == (ROWS + 250, 250, ROWS, 500)
