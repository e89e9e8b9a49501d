"""The RouterOS API wire format: length-prefixed words grouped into zero-terminated sentences.

Written from the protocol description, not from any client library, so that the lab checks the
product's client instead of agreeing with it by construction.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping

logger = logging.getLogger(__name__)

END_OF_SENTENCE = b"\x00"

# Lengths below 0x80 are one byte; a ready table keeps the hot path of a large print cheap.
_SHORT_LENGTHS = tuple(bytes((n,)) for n in range(0x80))


class ProtocolError(ValueError):
    """The peer sent bytes that are not a valid API word (a reserved control byte)."""


def encode_length(length: int) -> bytes:
    """The 1 to 5 byte length prefix of a word, most significant byte first."""
    if length < 0x80:
        return _SHORT_LENGTHS[length]
    if length < 0x4000:
        return (length | 0x8000).to_bytes(2, "big")
    if length < 0x200000:
        return (length | 0xC00000).to_bytes(3, "big")
    if length < 0x10000000:
        return (length | 0xE0000000).to_bytes(4, "big")
    if length < 0x100000000:
        return b"\xf0" + length.to_bytes(4, "big")
    raise ProtocolError(f"word of {length} bytes is too long for the API")


def decode_length(prefix: bytes) -> tuple[int, int]:
    """Decode the prefix at the start of `prefix`: (length, prefix size), or (-1, size needed)."""
    first = prefix[0]
    if first < 0x80:
        return first, 1
    if first < 0xC0:
        size, mask = 2, 0x8000
    elif first < 0xE0:
        size, mask = 3, 0xC00000
    elif first < 0xF0:
        size, mask = 4, 0xE0000000
    elif first == 0xF0:
        if len(prefix) < 5:
            return -1, 5
        return int.from_bytes(prefix[1:5], "big"), 5
    else:
        raise ProtocolError(f"reserved control byte 0x{first:02X}")

    if len(prefix) < size:
        return -1, size
    return int.from_bytes(prefix[:size], "big") ^ mask, size


def encode_word(word: bytes) -> bytes:
    return encode_length(len(word)) + word


def encode_sentence(words: Iterable[bytes]) -> bytes:
    """One sentence: every word with its length, then the empty word."""
    return b"".join(encode_word(word) for word in words) + END_OF_SENTENCE


def encode_reply(
    reply: str,
    attributes: Mapping[str, str | bytes] | None = None,
    *,
    encoding: str,
    tag: bytes | None = None,
) -> bytes:
    """A reply sentence such as `!re =name=x .tag=1`, text encoded in the router's code page."""
    parts = [encode_word(reply.encode("ascii"))]
    if attributes:
        parts.extend(_attribute_words(attributes.items(), encoding))
    if tag is not None:
        parts.append(encode_word(b".tag=" + tag))
    parts.append(END_OF_SENTENCE)
    return b"".join(parts)


def encode_rows(
    rows: Iterable[Iterable[tuple[str, str | bytes]]], *, encoding: str, tag: bytes | None
) -> bytes:
    """Many `!re` sentences at once: the streaming print's hot path, hence no helper calls."""
    short = _SHORT_LENGTHS
    head = b"\x03!re"
    tail = encode_word(b".tag=" + tag) + END_OF_SENTENCE if tag is not None else END_OF_SENTENCE
    parts: list[bytes] = []
    append = parts.append
    for items in rows:
        append(head)
        for key, value in items:
            if value.__class__ is str:
                word = ("=" + key + "=" + value).encode(encoding, "replace")
            else:
                word = b"=" + key.encode(encoding, "replace") + b"=" + value
            size = len(word)
            append(short[size] if size < 0x80 else encode_length(size))
            append(word)
        append(tail)
    return b"".join(parts)


def _attribute_words(items: Iterable[tuple[str, str | bytes]], encoding: str) -> Iterator[bytes]:
    for key, value in items:
        raw = value if isinstance(value, bytes) else value.encode(encoding, "replace")
        yield encode_word(b"=" + key.encode(encoding, "replace") + b"=" + raw)


class SentenceReader:
    """Turns a byte stream cut at arbitrary places into whole sentences (lists of raw words)."""

    def __init__(self) -> None:
        self._rest = b""
        self._words: list[bytes] = []

    def feed(self, data: bytes) -> list[list[bytes]]:
        """Add received bytes; return every sentence they complete, in order."""
        buffer = self._rest + data if self._rest else bytes(data)
        sentences: list[list[bytes]] = []
        position, end = 0, len(buffer)
        while position < end:
            first = buffer[position]
            if first < 0x80:
                length, size = first, 1
            else:
                length, size = decode_length(buffer[position : position + 5])
            start = position + size
            if length < 0 or start + length > end:
                break
            if length == 0:
                sentences.append(self._words)
                self._words = []
            else:
                self._words.append(buffer[start : start + length])
            position = start + length
        self._rest = buffer[position:]
        return sentences

    @property
    def pending(self) -> int:
        """Bytes held back because they do not make a whole word yet."""
        return len(self._rest)
