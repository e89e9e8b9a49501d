"""One API connection to a lab router: login, commands and streamed print replies, with the
router's fault mode applied at the point where a real failure would strike.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice

from emerald_cli.lab.dataset import LabRouter
from emerald_cli.lab.routeros.faults import MID_REPLY_FAULTS, RouterBehaviour, reply_style
from emerald_cli.lab.routeros.query import PrintRequest, QueryError, Row
from emerald_cli.lab.routeros.wire import (
    ProtocolError,
    SentenceReader,
    encode_reply,
    encode_rows,
    encode_sentence,
)

logger = logging.getLogger(__name__)

BAD_LOGIN = "invalid user name or password (6)"
PRINT_VERBS = ("print", "getall")
READ_SIZE = 65536
_REDACTED_PREFIXES = ("=password=", "=response=")


class Hangup(Exception):
    """The session ends here; `reset` asks the server to abort with a TCP RST."""

    def __init__(self, *, reset: bool = False) -> None:
        super().__init__("hang up")
        self.reset = reset


@dataclass
class RouterStats:
    """What one router saw, so a test can prove retries, logins and the use of `.proplist`."""

    connections: int = 0
    logins: int = 0
    failed_logins: int = 0
    # Every command sentence received, decoded, with passwords and responses masked.
    commands: list[tuple[str, ...]] = field(default_factory=list)
    rows_sent: int = 0
    # Rows sent that carried the secret's `password` attribute (no `.proplist`, or asked for).
    password_rows_sent: int = 0
    bytes_sent: int = 0


@dataclass(frozen=True)
class SessionSettings:
    """What a session needs from the lab, fixed when the connection is accepted."""

    router: LabRouter
    behaviour: RouterBehaviour
    stats: RouterStats
    username: str
    password: str
    latency: float
    chunk_rows: int


class Session:
    """Answers one client until it hangs up, the fault ends the talk, or the lab stops."""

    def __init__(
        self,
        settings: SessionSettings,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.settings = settings
        self.router = settings.router
        self.behaviour = settings.behaviour
        self.stats = settings.stats
        self.encoding = settings.router.encoding
        self.reader = reader
        self.writer = writer
        self.logged_in = False
        self.challenge: bytes | None = None

    async def run(self) -> None:
        if self.behaviour.fault in ("silent", "silent_at_login"):
            await self.wait_for_hangup()

        parser = SentenceReader()
        while data := await self.reader.read(READ_SIZE):
            try:
                sentences = parser.feed(data)
            except ProtocolError as error:
                logger.debug("router=%s bad bytes from client: %s", self.router.name, error)
                raise Hangup from error
            for sentence in sentences:
                if sentence:
                    await self.handle(sentence)

    async def handle(self, words: list[bytes]) -> None:
        command = words[0].decode(self.encoding, "surrogateescape")
        arguments = words[1:]
        tag = next((word[5:] for word in arguments if word.startswith(b".tag=")), None)
        self.stats.commands.append(self._redacted(words))

        if self.logged_in and self.behaviour.fault == "silent_after_login":
            await self.wait_for_hangup()
        await self.wait_latency()

        if command == "/login":
            await self.login(arguments, tag)
        elif command == "/quit":
            await self.fatal("session terminated on request")
        elif command == "/cancel":
            await self.send(encode_reply("!done", encoding=self.encoding, tag=tag))
        elif not self.logged_in:
            await self.refuse_unauthenticated(tag)
        else:
            await self.run_command(command, arguments, tag)

    async def login(self, arguments: list[bytes], tag: bytes | None) -> None:
        """Post-6.43 plain login, or the pre-6.43 MD5 challenge on `legacy_login` routers."""
        attributes = _attributes(arguments)
        name = attributes.get("name")
        if self.behaviour.fault == "legacy_login":
            response = attributes.get("response")
            if name is None or response is None:
                await self.send_challenge(tag)
                return
            accepted = self._accepts_response(name, response)
        else:
            password = attributes.get("password")
            accepted = (
                name is not None
                and password is not None
                and self._accepts_password(name, password)
            )

        if not accepted:
            self.stats.failed_logins += 1
            logger.debug("router=%s login refused", self.router.name)
            await self.trap(BAD_LOGIN, tag)
            return

        self.logged_in = True
        self.stats.logins += 1
        logger.debug("router=%s logged in", self.router.name)
        await self.send(encode_reply("!done", encoding=self.encoding, tag=tag))
        if self.behaviour.fault == "close_after_login":
            await self.flush()
            raise Hangup

    async def send_challenge(self, tag: bytes | None) -> None:
        """A pre-6.43 router answers any /login without a response by a fresh challenge."""
        self.challenge = os.urandom(16)
        ret = {"ret": self.challenge.hex()}
        await self.send(encode_reply("!done", ret, encoding=self.encoding, tag=tag))

    async def refuse_unauthenticated(self, tag: bytes | None) -> None:
        if self.behaviour.unauthenticated == "fatal":
            await self.fatal("not logged in")
        await self.trap("not logged in", tag)

    async def run_command(self, command: str, arguments: list[bytes], tag: bytes | None) -> None:
        menu, _, verb = command.rpartition("/")
        rows = None if self._menu_removed(menu) else self.router.menu(menu)
        if rows is None:
            await self.trap("no such command prefix", tag, category="0")
        elif verb not in PRINT_VERBS:
            await self.trap("no such command", tag, category="0")
        else:
            await self.print_rows(menu, rows, arguments, tag)

    async def print_rows(
        self, menu: str, rows: Sequence[Row], arguments: list[bytes], tag: bytes | None
    ) -> None:
        """Stream the matching rows in chunks; a mid-reply fault strikes before `!done`."""
        texts = [word.decode(self.encoding, "surrogateescape") for word in arguments]
        try:
            request = PrintRequest.from_words(texts)
            matching = request.matching(list(rows))
        except QueryError as error:
            await self.trap(str(error), tag, category="1")
            return

        if request.count_only:
            count = {"ret": str(sum(1 for _ in matching))}
            await self.send(encode_reply("!done", count, encoding=self.encoding, tag=tag))
            return

        faulty = self.behaviour.fault in MID_REPLY_FAULTS and menu == self.behaviour.fault_menu
        if faulty:
            limit = self.behaviour.rows_before_fault(len(rows))
            sent = await self.stream(request, islice(matching, limit), tag)
            await self.strike(request, matching, tag)
            sent += await self.stream(request, matching, tag)
        else:
            sent = await self.stream(request, matching, tag)

        if sent == 0 and reply_style(self.router.version, self.behaviour.style) == "v7.18":
            await self.send(encode_reply("!empty", encoding=self.encoding, tag=tag))
        await self.send(encode_reply("!done", encoding=self.encoding, tag=tag))

    async def stream(self, request: PrintRequest, rows: Iterator[Row], tag: bytes | None) -> int:
        count = 0
        counts_passwords = request.sends("password")
        while chunk := list(islice(rows, self.settings.chunk_rows)):
            if counts_passwords:
                self.stats.password_rows_sent += sum(1 for row in chunk if "password" in row)
            data = encode_rows(map(request.project, chunk), encoding=self.encoding, tag=tag)
            await self.send(data)
            count += len(chunk)
        self.stats.rows_sent += count
        return count

    async def strike(self, request: PrintRequest, rest: Iterator[Row], tag: bytes | None) -> None:
        """Apply the mid-reply fault; only `pause_mid_reply` lets the reply go on."""
        fault = self.behaviour.fault
        await self.flush()
        logger.debug("router=%s fault=%s strikes mid-reply", self.router.name, fault)
        if fault == "pause_mid_reply":
            await asyncio.sleep(self.behaviour.pause)
            return
        if fault == "never_finishes":
            await self.wait_for_hangup()
        if fault == "fatal_mid_print":
            await self.fatal(self.behaviour.reason)

        # close_mid_reply and reset_mid_table cut the stream inside the next sentence.
        next_row = next(rest, None)
        if next_row is not None:
            data = encode_rows([request.project(next_row)], encoding=self.encoding, tag=tag)
            await self.send(data[: len(data) // 2])
            await self.flush()
        raise Hangup(reset=fault == "reset_mid_table")

    async def trap(self, message: str, tag: bytes | None, *, category: str | None = None) -> None:
        attributes = {"message": message}
        if category is not None:
            attributes = {"category": category, "message": message}
        trap = encode_reply("!trap", attributes, encoding=self.encoding, tag=tag)
        done = encode_reply("!done", encoding=self.encoding, tag=tag)
        await self.send(trap + done)

    async def fatal(self, reason: str) -> None:
        """`!fatal` carries its reason as a bare word; the router closes right after it."""
        await self.send(encode_sentence([b"!fatal", reason.encode(self.encoding, "replace")]))
        await self.flush()
        raise Hangup

    async def send(self, data: bytes) -> None:
        self.stats.bytes_sent += len(data)
        if self.behaviour.fault != "trickle":
            self.writer.write(data)
            await self.writer.drain()
            return

        for offset in range(len(data)):
            self.writer.write(data[offset : offset + 1])
            await self.writer.drain()
            await asyncio.sleep(self.behaviour.byte_interval)

    async def flush(self) -> None:
        """Wait until every byte left the process, so a close or reset comes after them."""
        await self.writer.drain()
        transport = self.writer.transport
        while transport.get_write_buffer_size() > 0:
            await asyncio.sleep(0.005)

    async def wait_latency(self) -> None:
        latency = self.behaviour.latency
        if latency is None:
            latency = self.settings.latency
        if latency > 0:
            await asyncio.sleep(latency)

    async def wait_for_hangup(self) -> None:
        """Read and drop whatever the client sends until it gives up; then end the session."""
        while await self.reader.read(READ_SIZE):
            pass
        raise Hangup

    def _accepts_password(self, name: bytes, password: bytes) -> bool:
        return name == self._username() and password == self._password()

    def _accepts_response(self, name: bytes, response: bytes) -> bool:
        challenge, self.challenge = self.challenge, None
        if challenge is None or name != self._username():
            return False
        digest = hashlib.md5(b"\x00" + self._password() + challenge, usedforsecurity=False)
        return response.lower() == b"00" + digest.hexdigest().encode("ascii")

    def _username(self) -> bytes:
        return self.settings.username.encode("utf-8")

    def _password(self) -> bytes:
        """The bytes this router expects: its own password, or a different one when faulty."""
        behaviour = self.behaviour
        text = self.settings.password if behaviour.password is None else behaviour.password
        if behaviour.fault == "wrong_password":
            text = behaviour.expected_password or f"{text}-rotated"
        return text.encode(behaviour.password_encoding)

    def _menu_removed(self, menu: str) -> bool:
        return self.behaviour.fault == "missing_menu" and menu == self.behaviour.fault_menu

    def _redacted(self, words: Iterable[bytes]) -> tuple[str, ...]:
        return tuple(_masked(word.decode(self.encoding, "replace")) for word in words)


def _masked(text: str) -> str:
    for prefix in _REDACTED_PREFIXES:
        if text.startswith(prefix):
            return prefix + "***"
    return text


def _attributes(words: Iterable[bytes]) -> dict[str, bytes]:
    """`=name=value` words as raw bytes, so passwords compare byte for byte."""
    attributes: dict[str, bytes] = {}
    for word in words:
        if word.startswith(b"="):
            name, _, value = word[1:].partition(b"=")
            attributes[name.decode("ascii", "replace")] = value
    return attributes
