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
    0xF1), WebFig and scripts write UTF-8 (0xC3 0xB1). Either way the result is "ñ". A NUL,
    which a script can put in a comment, is dropped: PostgreSQL text refuses it, and would
    refuse the router's whole write with it.
    """
    value = value.replace("\x00", "")
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
        transport = self.transport
        while True:
            parsed = parse_sentence(transport.buffer, transport.position)
            if parsed is not None:
                break
            transport.fill()
        words, transport.position = parsed

        if not words:
            raise ProtocolError("the router sent an empty sentence")
        if words[0] == "!fatal":
            self.transport.close()
            raise FatalError(words[1] if len(words) > 1 else "no reason given")
        return words[0], tuple(words[1:])


def parse_sentence(buffer: bytearray, position: int) -> tuple[list[str], int] | None:
    """One whole sentence from `buffer` at `position` and where it ends; None if incomplete.

    A 50,000-row table is over a million words, so this loop is the poll's hot path: it reads
    lengths and words straight from the buffer, with no call per word.
    """
    words = []
    size = len(buffer)
    while position < size:
        first = buffer[position]
        if first < 0x80:
            length, position = first, position + 1
        elif first < 0xC0:
            if position + 2 > size:
                return None
            length = ((first & 0x3F) << 8) | buffer[position + 1]
            position += 2
        elif first < 0xF8:
            width = 3 if first < 0xE0 else 4 if first < 0xF0 else 5
            if position + width > size:
                return None
            length = int.from_bytes(buffer[position : position + width], "big")
            length &= (0x1FFFFF, 0xFFFFFFF, 0xFFFFFFFF)[width - 3]
            position += width
        else:
            raise ProtocolError(f"the router sent the reserved control byte 0x{first:02X}")

        if length == 0:
            return words, position
        end = position + length
        if end > size:
            return None
        words.append(buffer[position:end].decode(WIRE_ENCODING))
        position = end
    return None


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
