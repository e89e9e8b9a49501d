"""librouteros' protocol and API, made faithful: values arrive exactly as the router sent them.

Stock librouteros decodes words as ASCII dropping every other byte, turns "10045" into an int
and "true" into True, and logs each word (the login password included) at DEBUG. These
subclasses read the wire as latin-1, which maps every byte to one character and so loses
nothing, then recover each value's real text; they keep every value a string and log nothing.
"""

from __future__ import annotations

from librouteros.api import Api
from librouteros.exceptions import FatalError, ProtocolError
from librouteros.protocol import ApiProtocol, encode_sentence

from emerald_cli.sources.mikrotik.wire import DeadlineTransport

WIRE_ENCODING = "latin-1"


def decode_text(value: str) -> str:
    """Recover the text of a wire value read as latin-1: UTF-8 if it is, else Windows-1252.

    RouterOS stores bytes as the writer sent them: Winbox writes the Windows code page (ñ is
    0xF1), WebFig and scripts write UTF-8 (0xC3 0xB1). Either way the result is "ñ".
    """
    if value.isascii():
        return value

    raw = value.encode(WIRE_ENCODING)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252")
    except UnicodeDecodeError:
        return value


def encode_text(value: str) -> str:
    """Prepare an outgoing value so the latin-1 wire carries its UTF-8 bytes."""
    return value.encode("utf-8").decode(WIRE_ENCODING)


class FaithfulProtocol(ApiProtocol):
    """Reads whole sentences from the buffered transport; never logs a word."""

    transport: DeadlineTransport

    def __init__(self, transport: DeadlineTransport) -> None:
        super().__init__(transport=transport, encoding=WIRE_ENCODING)

    def writeSentence(self, cmd: str, *words: str) -> None:  # noqa: N802 (librouteros API)
        self.transport.write(encode_sentence(cmd, *words, encoding=WIRE_ENCODING))

    def readSentence(self) -> tuple[str, tuple[str, ...]]:  # noqa: N802 (librouteros API)
        words = []
        while word := self.read_word():
            words.append(word)

        if not words:
            raise ProtocolError("the router sent an empty sentence")
        if words[0] == "!fatal":
            self.transport.close()
            raise FatalError(words[1] if len(words) > 1 else "no reason given")
        return words[0], tuple(words[1:])

    def read_word(self) -> str:
        return self.transport.read(self._read_length()).decode(WIRE_ENCODING)

    def _read_length(self) -> int:
        first = self.transport.read_byte()
        if first < 0x80:
            return first
        if first < 0xC0:
            return ((first & 0x3F) << 8) | self.transport.read_byte()
        if first < 0xE0:
            rest = self.transport.read(2)
            return ((first & 0x1F) << 16) | (rest[0] << 8) | rest[1]
        if first < 0xF0:
            rest = self.transport.read(3)
            return ((first & 0x0F) << 24) | (rest[0] << 16) | (rest[1] << 8) | rest[2]
        if first == 0xF0:
            return int.from_bytes(self.transport.read(4), "big")
        raise ProtocolError(f"the router sent the reserved control byte 0x{first:02X}")


class FaithfulApi(Api):
    """An `Api` whose rows hold the router's strings, uncast and correctly decoded."""

    protocol: FaithfulProtocol

    def readSentence(self) -> tuple[str, dict[str, str]]:  # noqa: N802 (librouteros API)
        reply, words = self.protocol.readSentence()
        row = {}
        for word in words:
            if word.startswith("="):
                _, key, value = word.split("=", 2)
                row[key] = decode_text(value)
        return reply, row
