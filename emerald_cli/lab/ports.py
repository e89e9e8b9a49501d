"""The lab's one start-up failure an operator causes and can fix: a port it cannot listen on.

Raised instead of the bare OSError so that whoever starts the lab can name the server and the
port in one line, whichever server (a router, ISPCube, SmartOLT) met it.
"""

from __future__ import annotations

import os


class PortUnavailable(OSError):
    """`server` could not listen on `host`:`port`; `reason` is the system's words for why.

    >>> str(PortUnavailable("router router-000", "127.0.0.1", 18728, OSError(98, "in use")))
    'router router-000 cannot listen on 127.0.0.1:18728 (address already in use)'
    """

    def __init__(self, server: str, host: str, port: int, error: OSError) -> None:
        reason = os.strerror(error.errno) if error.errno else str(error)
        super().__init__(error.errno, reason)
        self.server = server
        self.host = host
        self.port = port
        self.reason = reason[:1].lower() + reason[1:]

    def __str__(self) -> str:
        return f"{self.server} cannot listen on {self.host}:{self.port} ({self.reason})"
