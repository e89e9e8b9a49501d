"""What can go wrong when reading an outside system, grouped by what the caller should do.

Every source (ISPCube, SmartOLT, MikroTik) raises these and nothing else, so the engine can turn
any failure into a target status without knowing the vendor. Each error pickles, because it
crosses the process pool on its way to the parent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from emerald_cli.errors import EmeraldError

STATUSES = (
    "unreachable",
    "timeout",
    "auth_failed",
    "rate_limited",
    "api_error",
    "data_error",
    "protocol_error",
)
"""The status vocabulary a failed stream or router is recorded with."""


class SourceError(EmeraldError):
    """A source could not be read; `status` names the failure, `retryable` if a retry can help.

    `stops_source` says the rest of the run must not call this source again: the next call
    would meet the same answer (refused credentials, a spent budget, a login that cannot be
    had) and spend time or budget for nothing.

    >>> SourceError("ISPCube answered 502 at /plans/plans_list", retryable=True).status
    'api_error'
    """

    status: ClassVar[str] = "api_error"
    retryable_by_default: ClassVar[bool] = False
    stops_source_by_default: ClassVar[bool] = False

    def __init__(
        self, message: str, *, retryable: bool | None = None, stops_source: bool | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = self.retryable_by_default if retryable is None else retryable
        self.stops_source = self.stops_source_by_default if stops_source is None else stops_source

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take other constructor arguments; rebuild from the state instead.
        return (_rebuild, (type(self), self.message, dict(self.__dict__)))

    def __str__(self) -> str:
        return self.message


def _rebuild(cls: type[SourceError], message: str, state: dict[str, Any]) -> SourceError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class Unreachable(SourceError):
    """No connection could be made, or it broke before an answer was complete."""

    status = "unreachable"
    retryable_by_default = True


class Timeout(SourceError):
    """The other side accepted the connection but did not answer in time."""

    status = "timeout"
    retryable_by_default = True


class AuthFailed(SourceError):
    """Credentials or a token were refused; retrying with the same ones cannot help."""

    status = "auth_failed"
    stops_source_by_default = True


class Forbidden(AuthFailed):
    """HTTP 403: the service refuses this caller this call; a new token would be refused alike.

    A token-based client must not log in again for it, as it does after a 401.
    """


class RateLimited(SourceError):
    """The vendor's rate limit for `method` was reached; call again after `retry_after`.

    `retry_after` is a timezone-aware moment, or None when the vendor gave no hint.
    """

    status = "rate_limited"
    stops_source_by_default = True

    def __init__(
        self,
        method: str,
        retry_after: datetime | None = None,
        *,
        message: str | None = None,
        retryable: bool | None = None,
        stops_source: bool | None = None,
    ) -> None:
        if message is None:
            when = retry_after.isoformat(timespec="seconds") if retry_after else "a while"
            message = (
                f"rate limit reached for {method}: calls stopped, try again after {when} "
                "or poll less often"
            )
        super().__init__(message, retryable=retryable, stops_source=stops_source)
        self.method = method
        self.retry_after = retry_after


class ApiError(SourceError):
    """The vendor answered, but not with what its API promises (5xx, 4xx, a body not JSON)."""

    status = "api_error"


class DataError(SourceError):
    """The answer was well-formed but its content cannot be used (a record without an id)."""

    status = "data_error"
