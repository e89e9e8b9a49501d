"""The fixed vocabularies of run history; a value outside them is refused before writing."""

from __future__ import annotations

TRIGGERS = ("cli", "schedule", "api")

# What a run syncs; `sync all` is recorded as one run of each.
RUN_SOURCES = ("mikrotik", "ispcube", "smartolt")

RUN_STATUSES = ("running", "ok", "partial", "failed", "interrupted")

# Statuses a run ends with: everything but "running".
FINAL_RUN_STATUSES = tuple(status for status in RUN_STATUSES if status != "running")

TARGET_STATUSES = (
    "ok",
    "unreachable",
    "timeout",
    "auth_failed",
    "protocol_error",
    "data_error",
    "crashed",
    "rate_limited",
    "api_error",
)

# Where a router row came from: the inventory file or ISPCube's list of nodes.
ROUTER_SOURCES = ("inventory", "ispcube")
