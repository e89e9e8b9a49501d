"""Why one router's poll failed, in the fixed status vocabulary the run history records."""

from __future__ import annotations

from emerald_cli.errors import EmeraldError


class RouterError(EmeraldError):
    """A router's poll failed; `status` is the word stored in sync_targets."""

    status = "crashed"


class Unreachable(RouterError):
    """Refused, reset, no route: the router may be back in a moment, so it is retried."""

    status = "unreachable"
    retryable = True


class Timeout(RouterError):
    """No answer, or an answer too slow to finish within the router's deadline."""

    status = "timeout"
    retryable = True


class AuthFailed(RouterError):
    """The router rejected the credentials; retrying would only lock the account out."""

    status = "auth_failed"


class ProtocolFailure(RouterError):
    """The router broke the conversation: !fatal, a closed socket mid-reply, an odd trap."""

    status = "protocol_error"
    retryable = True


class DataFailure(RouterError):
    """The router answered, but with rows the product cannot store (e.g. a secret with no name)."""

    status = "data_error"
