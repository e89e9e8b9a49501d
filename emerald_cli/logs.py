"""Log set-up: a rotating file shared by every process, stderr for people, secrets scrubbed.

Worker processes never write the file themselves: they put their records on a queue and the
parent's listener hands them to the same handlers, so one line is never interleaved with
another and the redaction filter sees every record once.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
import sys
from pathlib import Path
from typing import Any

from concurrent_log_handler import ConcurrentRotatingFileHandler

FILE_FORMAT = "%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s"
MASK = "********"

# "=password=x" is how the RouterOS login word looks; the others cover URLs, headers, TOML.
SECRET_PATTERNS = (
    re.compile(r"(=password=)[^\s'\"]*"),
    re.compile(r"(=response=)[^\s'\"]*"),
    re.compile(r"((?:password|token|api[-_]key|secret)\s*=\s*[\"']?)[^\s'\",}]+", re.I),
    re.compile(r"((?:password|token|api[-_]key|secret)[\"']\s*:\s*[\"'])[^'\"]+", re.I),
    re.compile(r"(://[^:/@\s]+:)[^@\s]+(@)"),
    re.compile(r"(Bearer\s+)[^\s'\"]+", re.I),
)


class RedactSecrets(logging.Filter):
    """Masks known secret values and secret-looking words in every record that passes."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def add(self, *values: str | None) -> None:
        self.secrets.update(value for value in values if value and len(value) >= 3)

    def scrub(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        for pattern in SECRET_PATTERNS:
            text = pattern.sub(lambda match: match.group(1) + MASK + _tail(match), text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg, record.args = self.scrub(message), None
        if record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        record.exc_info = None
        return True


REDACTOR = RedactSecrets()


class LogFile(ConcurrentRotatingFileHandler):
    """The rotating log file, failing in one line instead of a traceback per record.

    The handler opens its lock file only when the first record arrives, so a log directory
    that cannot be written shows up there; `probe()` makes that happen at start-up, where
    it can stop the command. A file that fails later (a full disk) is reported once on stderr
    and then left alone, since the sync itself can go on without it.
    """

    def __init__(self, path: Path) -> None:
        super().__init__(str(path), maxBytes=10 * 1024 * 1024, backupCount=5, encoding="utf-8")
        self.failure: OSError | None = None
        self._probing = False

    def probe(self) -> None:
        """Write a first record now; raise the OSError that writing it met, if any."""
        self._probing = True
        try:
            self.handle(
                logging.LogRecord(__name__, logging.DEBUG, __file__, 0, "log opened", None, None)
            )
        finally:
            self._probing = False
        if self.failure is not None:
            raise self.failure

    def emit(self, record: logging.LogRecord) -> None:
        if self.failure is None:
            super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging's name)
        error = sys.exc_info()[1]
        if self.failure is not None or not isinstance(error, OSError):
            super().handleError(record)
            return
        self.failure = error
        if self._probing:
            return
        sys.stderr.write(
            f"warning: cannot write the log file {self.baseFilename} "
            f"({error.strerror or error}); it is no longer written in this run\n"
        )


# Set on a record the console has already shown to the person, so stderr does not repeat it.
SHOWN = "shown_on_console"


def _lower_level(record: logging.LogRecord) -> bool:
    record.level = record.levelname.lower()
    return True


def setup_logging(log_file: Path, verbose: bool = False, quiet: bool = False) -> None:
    """Send records to the rotating file (DEBUG or INFO) and to stderr: INFO when verbose,
    else WARNING, or only ERROR when quiet (--json, whose reader wants stderr for failures).
    Verbose wins over quiet: whoever asks for -v wants it, and stdout carries no log anyway."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)

    log_file.parent.mkdir(parents=True, exist_ok=True)
    # stderr first: if the file cannot be written, the error about it still has a handler.
    stderr = logging.StreamHandler()
    stderr.setLevel(logging.INFO if verbose else logging.ERROR if quiet else logging.WARNING)
    # Operators see "warning: ..." like the "error: ..." lines; -v adds where it came from.
    layout = "%(level)s %(name)s: %(message)s" if verbose else "%(level)s: %(message)s"
    stderr.setFormatter(logging.Formatter(layout))
    stderr.addFilter(_lower_level)
    stderr.addFilter(REDACTOR)
    stderr.addFilter(lambda record: not getattr(record, SHOWN, False))
    root.addHandler(stderr)

    file_handler = LogFile(log_file)
    file_handler.setFormatter(logging.Formatter(FILE_FORMAT))
    file_handler.addFilter(REDACTOR)
    try:
        file_handler.probe()
    except OSError:
        file_handler.close()
        raise
    root.addHandler(file_handler)

    # librouteros logs every word it sends, the login password included, at DEBUG; Alembic
    # announces its dialect on every schema check.
    logging.getLogger("librouteros").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def listen_to_workers(queue: Any) -> logging.handlers.QueueListener:
    """Forward worker processes' records to this process's handlers until stopped."""
    listener = logging.handlers.QueueListener(
        queue, *logging.getLogger().handlers, respect_handler_level=True
    )
    listener.start()
    return listener


def setup_worker_logging(queue: Any, level: int) -> None:
    """In a worker process: every record goes to the parent through `queue`, nowhere else."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(logging.handlers.QueueHandler(queue))
    root.setLevel(level)
    logging.getLogger("librouteros").setLevel(logging.WARNING)


def _tail(match: re.Match[str]) -> str:
    return match.group(2) if match.re.groups >= 2 else ""
