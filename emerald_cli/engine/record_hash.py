"""Hashes of API records that stand for the rows they make, so unchanged records go untyped.

A row is a function of three things: the record as the API sent it, the settings it is typed
with (the account's time zone) and the code that types and stores it. Hashing all three gives
a content hash that changes whenever the row would, and costs a fraction of typing the record
(dates, decimals, flags). After an upgrade every hash differs once: that run builds and
compares each row in full and stores the new hashes.

One input is not covered: the time-zone database. A change in a zone's past rules shows in
the rows of records that change after it, not in the others.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from importlib import metadata
from pathlib import Path
from typing import Any

import emerald_cli
from emerald_cli.store.snapshot import content_hash

logger = logging.getLogger(__name__)

# The packages whose code decides what a record's row holds: the normalisers, the streams that
# shape rows, and the store that converts and compares them.
TYPING_PACKAGES = ("sources", "engine", "store")


class RecordHash:
    """The content hash of one stream's records, given the settings they are typed with."""

    def __init__(self, stream: str, *settings: str) -> None:
        salt = hashlib.blake2b(digest_size=32)
        salt.update(code_digest())
        for part in (stream, *settings):
            salt.update(part.encode() + b"\x00")
        self._salt = salt.digest()

    def __call__(self, record: Any) -> int:
        return content_hash(record, self._salt)


@functools.cache
def code_digest() -> bytes:
    """The digest of this installation's typing code (see source_digest), taken once."""
    digest = source_digest(Path(emerald_cli.__file__).parent)
    if digest is not None:
        return digest

    logger.debug("records are hashed with the installed version, not the source")
    return metadata.version("emerald-cli").encode()


def source_digest(root: Path) -> bytes | None:
    """A digest of the source of the packages under `root` that type records; None where it
    cannot be read, and the caller falls back to the version (coarser: it misses local edits).
    """
    digest = hashlib.blake2b(digest_size=32)
    files = 0
    try:
        for package in TYPING_PACKAGES:
            for path in sorted((root / package).rglob("*.py")):
                digest.update(path.relative_to(root).as_posix().encode() + b"\x00")
                digest.update(path.read_bytes())
                files += 1
    except OSError as error:
        logger.debug("typing code unreadable: %s", error)
        return None
    return digest.digest() if files else None
