"""A bare RouterOS API client that shows every reply word and byte, for the lab's tests.

librouteros hides what the lab must prove it sends (`!empty`, `.tag`, raw code-page bytes,
`!fatal`); this client hands back whole sentences of raw bytes and interprets nothing.
"""

from __future__ import annotations

import logging
import socket
import ssl
from collections import deque

from emerald_cli.lab.routeros.wire import SentenceReader, encode_sentence

logger = logging.getLogger(__name__)

Sentence = list[bytes]


class RawClient:
    """Whole sentences of raw bytes in and out over one socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._parser = SentenceReader()
        self._pending: deque[Sentence] = deque()

    @classmethod
    def connect(
        cls,
        host: str,
        port: int,
        *,
        timeout: float = 3.0,
        context: ssl.SSLContext | None = None,
    ) -> RawClient:
        sock = socket.create_connection((host, port), timeout=timeout)
        if context is not None:
            sock = context.wrap_socket(sock, server_hostname=host)
        return cls(sock)

    def send(self, *words: str | bytes, encoding: str = "utf-8") -> None:
        raw = [word.encode(encoding) if isinstance(word, str) else word for word in words]
        self.sock.sendall(encode_sentence(raw))

    def sentence(self) -> Sentence:
        while not self._pending:
            data = self.sock.recv(1 << 20)
            if not data:
                raise ConnectionError("the router closed the connection")
            self._pending.extend(self._parser.feed(data))
        return self._pending.popleft()

    def reply(self) -> list[Sentence]:
        """Every sentence up to and including `!done` (or a `!fatal`)."""
        sentences = []
        while True:
            sentence = self.sentence()
            sentences.append(sentence)
            if sentence[0] in (b"!done", b"!fatal"):
                return sentences

    def talk(self, *words: str | bytes, encoding: str = "utf-8") -> list[Sentence]:
        self.send(*words, encoding=encoding)
        return self.reply()

    def login(self, username: str, password: str) -> list[Sentence]:
        return self.talk("/login", f"=name={username}", f"=password={password}")

    def close(self) -> None:
        self.sock.close()


def rows_of(reply: list[Sentence], encoding: str = "utf-8") -> list[dict[str, str]]:
    """The `!re` sentences of a reply as dicts of text, API words such as `.tag` left out."""
    rows = []
    for sentence in reply:
        if sentence[0] != b"!re":
            continue
        words = (word.decode(encoding) for word in sentence[1:] if word.startswith(b"="))
        rows.append(dict(word[1:].split("=", 1) for word in words))
    return rows
