"""The lab routers as a client meets them: librouteros where it can show the behaviour, a raw
socket where it hides it (reply words, tags, long words, bytes)."""

from __future__ import annotations

import hashlib
import socket
import time
from collections.abc import Callable

import librouteros
import pytest
from librouteros.exceptions import FatalError, TrapError
from librouteros.login import token
from librouteros.query import Key

from emerald_cli.lab.dataset import LONG_COMMENT_ROUTER, LONG_COMMENT_SECRET, Fleet
from emerald_cli.lab.routeros import RouterLab
from emerald_cli.lab.routeros.raw_client import RawClient, rows_of
from tests.lab.conftest import PASSWORD, USERNAME, connect

MENUS = ("/system/identity", "/system/resource", "/ppp/secret", "/ppp/active", "/ppp/profile")

Raw = Callable[..., RawClient]


@pytest.mark.parametrize("name", ["router-000", "router-001"])
@pytest.mark.parametrize("menu", [*MENUS, "/queue/simple"])
def test_every_menu_prints_the_dataset_rows_unchanged(
    lab: RouterLab, fleet: Fleet, raw: Raw, name: str, menu: str
) -> None:
    router = fleet.router(name)
    client = raw(name)
    client.login(USERNAME, PASSWORD)

    reply = client.talk(f"{menu}/print")

    assert rows_of(reply, router.encoding) == router.menu(menu)
    assert reply[-1] == [b"!done"]


def test_librouteros_reads_a_latin1_router_with_proplist_and_query(
    lab: RouterLab, fleet: Fleet
) -> None:
    router = fleet.router("router-001")
    api = connect(lab, "router-001")

    secrets = api.path("ppp", "secret")
    rows = list(secrets.select(Key("name"), Key("comment")).where(Key("disabled") == True))  # noqa: E712

    expected = [
        {key: row[key] for key in ("name", "comment") if key in row}
        for row in router.secrets
        if row["disabled"] == "true"
    ]
    assert rows == expected
    assert lab.stats("router-001").password_rows_sent == 0
    api.close()


def test_password_is_sent_only_without_proplist_or_when_asked(lab: RouterLab, raw: Raw) -> None:
    client = raw("router-002")
    client.login(USERNAME, PASSWORD)
    stats = lab.stats("router-002")

    without_password = rows_of(client.talk("/ppp/secret/print", "=.proplist=name,profile"))
    assert stats.password_rows_sent == 0
    assert all("password" not in row for row in without_password)

    client.talk("/ppp/secret/print", "=.proplist=name,password")
    assert stats.password_rows_sent == 20
    client.talk("/ppp/secret/print")
    assert stats.password_rows_sent == 40


def test_prints_read_the_fleet_live(lab: RouterLab, fleet: Fleet) -> None:
    api = connect(lab, "router-001")
    secrets = fleet.router("router-001").secrets
    first = list(api.rawCmd("/ppp/secret/print", "=.proplist=name,disabled"))

    secrets[3]["disabled"] = "true"
    secrets.pop()
    second = list(api.rawCmd("/ppp/secret/print", "=.proplist=name,disabled"))

    assert len(first) == 20
    assert len(second) == 19
    assert second[3] == {"name": secrets[3]["name"], "disabled": True}
    api.close()


def test_tag_is_echoed_on_every_reply_sentence(lab: RouterLab, fleet: Fleet, raw: Raw) -> None:
    fleet.router("router-000").version = "7.18.2 (stable)"
    client = raw("router-000")

    login = client.talk("/login", "=name=api-reader", f"=password={PASSWORD}", ".tag=a1")
    rows = client.talk("/ppp/profile/print", "=.proplist=name", ".tag=b2")
    empty = client.talk("/ppp/secret/print", "?name=nobody", ".tag=c3")
    trap = client.talk("/no/such/print", ".tag=d4")

    assert login == [[b"!done", b".tag=a1"]]
    assert rows[0] == [b"!re", b"=name=default", b".tag=b2"]
    assert all(sentence[-1] == b".tag=b2" for sentence in rows)
    assert empty == [[b"!empty", b".tag=c3"], [b"!done", b".tag=c3"]]
    assert trap == [
        [b"!trap", b"=category=0", b"=message=no such command prefix", b".tag=d4"],
        [b"!done", b".tag=d4"],
    ]


def test_empty_print_style_follows_the_version_unless_overridden(
    lab: RouterLab, fleet: Fleet, raw: Raw
) -> None:
    fleet.router("router-001").version = "7.18.2 (stable)"
    lab.configure("router-002", style="v7.18")
    lab.configure("router-001", style="v6")

    replies = {}
    for name in ("router-000", "router-001", "router-002"):
        client = raw(name)
        client.login(USERNAME, PASSWORD)
        replies[name] = client.talk("/ppp/secret/print", "?name=nobody")

    assert replies == {
        "router-000": [[b"!done"]],
        "router-001": [[b"!done"]],
        "router-002": [[b"!empty"], [b"!done"]],
    }


def test_librouteros_copes_with_empty(lab: RouterLab) -> None:
    lab.configure("router-000", style="v7.18")
    api = connect(lab, "router-000")

    assert list(api.rawCmd("/ppp/secret/print", "?name=nobody")) == []
    api.close()


def test_long_words_use_two_and_three_byte_lengths(lab: RouterLab, fleet: Fleet) -> None:
    name = f"router-{LONG_COMMENT_ROUTER:03d}"
    router = fleet.router(name)
    long_comment = router.secrets[LONG_COMMENT_SECRET]["comment"]
    medium_comment = router.secrets[12]["comment"]
    endpoint = lab.endpoint(name)

    client = RawClient.connect(endpoint.host, endpoint.port)
    sock = client.sock
    client.login(USERNAME, PASSWORD)
    client.send("/ppp/secret/print", "=.proplist=comment", "?>comment=")
    data = b""
    while not data.endswith(b"\x05!done\x00"):
        data += sock.recv(65536)
    sock.close()

    long_word = b"=comment=" + long_comment.encode("latin-1")
    medium_word = b"=comment=" + medium_comment.encode("latin-1")
    assert len(long_word) > 0x3FFF
    assert 0x7F < len(medium_word) <= 0x3FFF
    assert (len(long_word) | 0xC00000).to_bytes(3, "big") + long_word in data
    assert (len(medium_word) | 0x8000).to_bytes(2, "big") + medium_word in data

    api = connect(lab, name)
    comments = [row["comment"] for row in api.rawCmd("/ppp/secret/print", "=.proplist=comment")]
    assert long_comment in comments
    api.close()


def test_commands_split_at_every_byte_are_understood(raw: Raw) -> None:
    client = raw("router-000")
    client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sentence = b"\x06/login\x10=name=api-reader\x14=password=s3cret-lab\x00"

    for offset in range(len(sentence)):
        client.sock.sendall(sentence[offset : offset + 1])
        time.sleep(0.002)

    assert client.reply() == [[b"!done"]]


def test_text_goes_out_in_the_router_code_page(raw: Raw) -> None:
    replies = {}
    for name in ("router-000", "router-001"):
        client = raw(name)
        client.login(USERNAME, PASSWORD)
        replies[name] = client.talk(
            "/ppp/secret/print", "=.proplist=comment", "?comment=Peña 100", encoding="latin-1"
        )

    # router-000 writes UTF-8, so a latin-1 query word matches nothing there.
    assert replies["router-000"] == [[b"!done"]]
    assert replies["router-001"][0] == [b"!re", b"=comment=Pe\xf1a 100"]

    client = raw("router-000")
    client.login(USERNAME, PASSWORD)
    utf8 = client.talk("/ppp/secret/print", "=.proplist=comment", "?comment=Peña 100")
    assert utf8[0] == [b"!re", b"=comment=Pe\xc3\xb1a 100"]


def test_unknown_commands_trap_with_category_zero(lab: RouterLab) -> None:
    api = connect(lab, "router-000")

    with pytest.raises(TrapError) as prefix:
        list(api.rawCmd("/ip/hotspot/print"))
    with pytest.raises(TrapError) as verb:
        list(api.rawCmd("/ppp/secret/frobnicate"))

    assert (prefix.value.message, prefix.value.category) == ("no such command prefix", 0)
    assert (verb.value.message, verb.value.category) == ("no such command", 0)
    assert list(api.rawCmd("/system/identity/print")) == [{"name": "router-000"}]
    api.close()


def test_bad_query_traps_with_category_one(raw: Raw) -> None:
    client = raw("router-000")
    client.login(USERNAME, PASSWORD)

    reply = client.talk("/ppp/secret/print", "?name=a", "?#x")

    assert reply == [
        [b"!trap", b"=category=1", b"=message=unknown query operation 'x'"],
        [b"!done"],
    ]


def test_getall_count_only_cancel_and_quit(raw: Raw) -> None:
    client = raw("router-000")
    client.login(USERNAME, PASSWORD)

    getall = client.talk("/ppp/profile/getall", "=.proplist=name")
    count = client.talk("/ppp/secret/print", "=count-only=", "?disabled=true")
    cancel = client.talk("/cancel")
    quit_reply = client.talk("/quit")

    assert [row["name"] for row in rows_of(getall)] == [
        "default",
        "FIBRA-50",
        "FIBRA-100",
        "FIBRA-300",
        "CORTE",
    ]
    assert count == [[b"!done", b"=ret=2"]]
    assert cancel == [[b"!done"]]
    assert quit_reply == [[b"!fatal", b"session terminated on request"]]
    assert client.sock.recv(1) == b""


def test_command_before_login_traps_or_is_fatal(lab: RouterLab, raw: Raw) -> None:
    trap = raw("router-000").talk("/ppp/secret/print")
    lab.configure("router-000", unauthenticated="fatal")
    fatal = raw("router-000").talk("/ppp/secret/print")

    assert trap == [[b"!trap", b"=message=not logged in"], [b"!done"]]
    assert fatal == [[b"!fatal", b"not logged in"]]


def test_bad_password_traps_and_is_counted(lab: RouterLab) -> None:
    endpoint = lab.endpoint("router-000")

    with pytest.raises(TrapError, match=r"invalid user name or password \(6\)"):
        librouteros.connect(endpoint.host, USERNAME, "nope", port=endpoint.port, timeout=3)
    connect(lab, "router-000").close()

    stats = lab.stats("router-000")
    assert (stats.connections, stats.logins, stats.failed_logins) == (2, 1, 1)
    assert stats.commands[0] == ("/login", "=name=api-reader", "=password=***")


def test_a_router_password_with_n_tilde_is_compared_in_its_code_page(lab: RouterLab) -> None:
    lab.configure("router-001", password="contraseña", password_encoding="latin-1")
    endpoint = lab.endpoint("router-001")

    api = librouteros.connect(
        endpoint.host, USERNAME, endpoint.password, port=endpoint.port, encoding="latin-1"
    )
    api.close()
    with pytest.raises(TrapError):
        librouteros.connect(
            endpoint.host, USERNAME, endpoint.password, port=endpoint.port, encoding="utf-8"
        )

    assert endpoint.password == "contraseña"
    assert endpoint.password_env == "EMERALD_ROUTER_PASSWORD_ROUTER_001"
    assert lab.environment() == {
        "EMERALD_ROUTER_PASSWORD": PASSWORD,
        "EMERALD_ROUTER_PASSWORD_ROUTER_001": "contraseña",
    }


def test_legacy_router_challenges_and_accepts_the_md5_response(lab: RouterLab, raw: Raw) -> None:
    lab.configure("router-002", fault="legacy_login")

    plain = raw("router-002")
    answer = plain.login(USERNAME, PASSWORD)
    after_plain = plain.talk("/system/identity/print")

    challenge = raw("router-002")
    ret = challenge.talk("/login")[0][1].removeprefix(b"=ret=")
    secret = b"\x00" + PASSWORD.encode() + bytes.fromhex(ret.decode())
    digest = hashlib.md5(secret, usedforsecurity=False)
    accepted = challenge.talk("/login", "=name=api-reader", f"=response=00{digest.hexdigest()}")

    assert answer[0][0] == b"!done"
    assert answer[0][1].startswith(b"=ret=")
    assert len(answer[0][1]) == len(b"=ret=") + 32
    assert after_plain[0] == [b"!trap", b"=message=not logged in"]
    assert accepted == [[b"!done"]]


def test_librouteros_token_login_works_on_a_legacy_router_only(lab: RouterLab) -> None:
    lab.configure("router-002", fault="legacy_login")

    api = connect(lab, "router-002", login_method=token)
    assert list(api.rawCmd("/system/identity/print")) == [{"name": "router-002"}]
    api.close()

    with pytest.raises(TrapError, match="invalid user name or password"):
        connect(lab, "router-000", login_method=token)
    # librouteros' plain login takes the challenge for success; the next command shows it.
    api = connect(lab, "router-002")
    with pytest.raises(TrapError, match="not logged in"):
        list(api.rawCmd("/system/identity/print"))
    api.close()


def test_fatal_reaches_librouteros(lab: RouterLab) -> None:
    api = connect(lab, "router-000")

    with pytest.raises(FatalError, match="session terminated on request"):
        list(api.rawCmd("/quit"))


def test_configure_refuses_unknown_settings(lab: RouterLab) -> None:
    with pytest.raises(TypeError, match="unknown router setting"):
        lab.configure("router-000", colour="red")
    with pytest.raises(ValueError, match="unknown fault"):
        lab.configure("router-000", fault="melts")
    with pytest.raises(KeyError, match="router-999"):
        lab.configure("router-999", fault="refuse")
