"""The product's error tree, grouped by what the caller should do about each error.

Every error carries the exit code the CLI ends with and whether trying again can help. They
are plain picklable exceptions (their state lives in `args`), so a worker process can send one
to the parent unchanged.
"""

from __future__ import annotations


class EmeraldError(Exception):
    """Root of every error the product raises on purpose; its message is one line for people."""

    exit_code = 1
    retryable = False

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else self.__class__.__name__


class ConfigError(EmeraldError):
    """Bad settings: a missing file, bad TOML, an unknown key, a missing secret."""

    exit_code = 2


class NotConfigured(ConfigError):
    """None of a source's settings were given: an error for a command that needs the source,
    but no mistake in a site that does not use it (`config show` only notes it)."""


class UsageError(EmeraldError):
    """A command line that asks for something impossible (e.g. --only a router not listed)."""

    exit_code = 2


class SyncBusy(EmeraldError):
    """Another sync of the same source holds the lock."""

    exit_code = 4


class DatabaseError(EmeraldError):
    """The database refused, dropped or is missing its schema; nothing partial was kept. A
    schema to upgrade first (SchemaOutdated, SchemaNewer) exits 2, like a setting to fix."""

    exit_code = 1
