"""Log in to RouterOS either way: the plain form (6.43 and later) or the legacy MD5 challenge.

A pre-6.43 router answers the plain form with a challenge instead of logging in, and
librouteros would take that for success. `login` notices the challenge and answers it, so
the inventory only needs `login = "legacy"` to skip the first round trip.
"""

from __future__ import annotations

import hashlib
import logging
from binascii import unhexlify

from librouteros.exceptions import TrapError

from emerald_cli.sources.mikrotik.errors import AuthFailed, ProtocolFailure
from emerald_cli.sources.mikrotik.protocol import WIRE_ENCODING, FaithfulApi, encode_text

logger = logging.getLogger(__name__)

LOGIN_METHODS = ("auto", "plain", "legacy")


def login(api: FaithfulApi, username: str, password: str, method: str = "auto") -> str:
    """Log in and return the method that worked ("plain" or "legacy")."""
    if method == "legacy":
        _answer_challenge(api, username, password, _challenge(api))
        return "legacy"

    reply = _call(api, "/login", f"=name={encode_text(username)}", _password_word(password))
    challenge = reply.get("ret") if reply else None
    if challenge is None:
        return "plain"

    if method == "plain":
        raise ProtocolFailure(
            'the router answered with a pre-6.43 login challenge: remove login = "plain"'
        )
    _answer_challenge(api, username, password, challenge)
    return "legacy"


def challenge_response(password: str, challenge: str) -> str:
    """The legacy login's answer: "00" + hex MD5 of a zero byte, the password and the challenge."""
    try:
        secret = unhexlify(challenge)
    except ValueError as error:
        raise ProtocolFailure(
            f"the router sent a malformed login challenge {challenge!r}"
        ) from error

    digest = hashlib.md5(b"\x00" + password.encode("utf-8") + secret, usedforsecurity=False)
    return "00" + digest.hexdigest()


def _challenge(api: FaithfulApi) -> str:
    reply = _call(api, "/login")
    if not reply or "ret" not in reply:
        raise ProtocolFailure('the router sent no login challenge: try login = "plain"')
    return reply["ret"]


def _answer_challenge(api: FaithfulApi, username: str, password: str, challenge: str) -> None:
    response = challenge_response(password, challenge)
    _call(api, "/login", f"=name={encode_text(username)}", f"=response={response}")


def _password_word(password: str) -> str:
    return "=password=" + password.encode("utf-8").decode(WIRE_ENCODING)


def _call(api: FaithfulApi, command: str, *words: str) -> dict[str, str] | None:
    """Run one login sentence; a trap here always means the credentials were refused."""
    try:
        rows = list(api.rawCmd(command, *words))
    except TrapError as error:
        raise AuthFailed(
            f"login refused ({error.message}): check the username and password"
        ) from None
    return rows[-1] if rows else None
