"""Why one router's poll failed: the shared source errors, plus the one only routers have."""

from __future__ import annotations

from emerald_cli.sources.errors import (
    AuthFailed,
    DataError,
    SourceError,
    Timeout,
    Unreachable,
)

__all__ = ["AuthFailed", "DataError", "ProtocolFailure", "SourceError", "Timeout", "Unreachable"]


class ProtocolFailure(SourceError):
    """The router broke the conversation: !fatal, a closed socket mid-reply, an odd trap."""

    status = "protocol_error"
    retryable_by_default = True
