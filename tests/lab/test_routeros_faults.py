"""One test per fault mode, each proving the failure a client meets (short pauses, short
client timeouts, so the whole file stays fast)."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable

import librouteros
import pytest
from librouteros.exceptions import ConnectionClosed, FatalError, TrapError

from emerald_cli.lab.dataset import Fleet
from emerald_cli.lab.routeros import RouterLab
from emerald_cli.lab.routeros.raw_client import RawClient, rows_of
from emerald_cli.lab.routeros.tls import anonymous_client_context
from tests.lab.conftest import PASSWORD, USERNAME, connect

PROPLIST = "=.proplist=name,profile"

Raw = Callable[..., RawClient]


def verifying(host: str, cafile: str | None = None) -> Callable[[socket.socket], ssl.SSLSocket]:
    """A librouteros `ssl_wrapper` that checks the certificate and the host name."""
    context = ssl.create_default_context(cafile=cafile)
    return lambda sock: context.wrap_socket(sock, server_hostname=host)


def read_forever(client: RawClient) -> None:
    while True:
        client.sentence()


def print_secrets(api: librouteros.api.Api) -> list[dict[str, object]]:
    return list(api.rawCmd("/ppp/secret/print", PROPLIST))


def test_wrong_password(lab: RouterLab) -> None:
    lab.configure("router-000", fault="wrong_password")
    lab.configure("router-001", fault="wrong_password", expected_password="rotated-2024")
    endpoint = lab.endpoint("router-001")

    with pytest.raises(TrapError, match=r"invalid user name or password \(6\)"):
        connect(lab, "router-000")
    api = librouteros.connect(endpoint.host, USERNAME, "rotated-2024", port=endpoint.port)
    api.close()

    assert lab.stats("router-000").failed_logins == 1
    assert lab.endpoint("router-000").password == PASSWORD


def test_refuse_then_recover_on_the_same_port(lab: RouterLab) -> None:
    lab.configure("router-000", fault="refuse")
    port = lab.endpoint("router-000").port

    with pytest.raises(ConnectionRefusedError):
        connect(lab, "router-000")
    lab.configure("router-000", fault=None)

    assert lab.endpoint("router-000").port == port
    connect(lab, "router-000").close()


@pytest.mark.parametrize("fault", ["silent", "silent_at_login"])
def test_silent_router_accepts_tcp_and_never_answers(lab: RouterLab, raw: Raw, fault: str) -> None:
    lab.configure("router-000", fault=fault)
    client = raw("router-000", timeout=0.5)

    client.send("/login", f"=name={USERNAME}", f"=password={PASSWORD}")
    with pytest.raises(TimeoutError):
        client.sock.recv(1)
    with pytest.raises(TimeoutError):
        connect(lab, "router-000", timeout=0.5)
    assert lab.stats("router-000").connections == 2


def test_silent_after_login_hangs_the_first_command(lab: RouterLab) -> None:
    lab.configure("router-000", fault="silent_after_login")
    api = connect(lab, "router-000", timeout=0.5)

    with pytest.raises(TimeoutError):
        print_secrets(api)
    assert lab.stats("router-000").logins == 1
    api.close()


def test_close_after_login(lab: RouterLab) -> None:
    lab.configure("router-000", fault="close_after_login")
    api = connect(lab, "router-000")

    # The command may reach the closed socket before the client reads its end: a reset then.
    with pytest.raises((ConnectionClosed, ConnectionResetError)):
        print_secrets(api)
    assert lab.stats("router-000").logins == 1


def test_trickle_sends_one_byte_at_a_time(lab: RouterLab, raw: Raw) -> None:
    lab.configure("router-000", fault="trickle", byte_interval=0.1)
    client = raw("router-000")

    client.send("/login", f"=name={USERNAME}", f"=password={PASSWORD}")
    chunks = [client.sock.recv(100) for _ in range(7)]

    assert chunks == [b"\x05", b"!", b"d", b"o", b"n", b"e", b"\x00"]


def test_pause_mid_reply_outlasts_a_short_timeout_then_completes(
    lab: RouterLab, fleet: Fleet
) -> None:
    lab.configure("router-000", fault="pause_mid_reply", pause=1.0, after_rows=5)
    impatient = connect(lab, "router-000", timeout=0.4)
    patient = connect(lab, "router-000", timeout=3)

    with pytest.raises(TimeoutError):
        print_secrets(impatient)
    rows = print_secrets(patient)

    assert len(rows) == len(fleet.router("router-000").secrets)
    impatient.close()
    patient.close()


def test_never_finishes_sends_some_rows_then_stalls(lab: RouterLab, raw: Raw) -> None:
    lab.configure("router-000", fault="never_finishes", after_rows=3)
    client = raw("router-000", timeout=0.5)
    client.login(USERNAME, PASSWORD)

    client.send("/ppp/secret/print", PROPLIST)
    received = [client.sentence() for _ in range(3)]
    with pytest.raises(TimeoutError):
        client.sentence()

    assert [sentence[0] for sentence in received] == [b"!re"] * 3
    assert lab.stats("router-000").rows_sent == 3


def test_close_mid_reply_cuts_a_sentence_and_closes(lab: RouterLab, raw: Raw) -> None:
    lab.configure("router-001", fault="close_mid_reply", after_rows=4)
    client = raw("router-001")
    client.login(USERNAME, PASSWORD)

    client.send("/ppp/secret/print", PROPLIST)
    received = [client.sentence() for _ in range(4)]
    with pytest.raises(ConnectionError, match="closed"):
        client.sentence()
    with pytest.raises(ConnectionClosed):
        print_secrets(connect(lab, "router-001"))

    assert len(rows_of(received)) == 4
    assert client._parser.pending > 0


def test_fatal_mid_print(lab: RouterLab, raw: Raw) -> None:
    lab.configure("router-000", fault="fatal_mid_print", after_rows=2)
    client = raw("router-000")
    client.login(USERNAME, PASSWORD)

    reply = client.talk("/ppp/secret/print", PROPLIST)
    with pytest.raises(FatalError, match="session terminated on request"):
        print_secrets(connect(lab, "router-000"))

    assert [sentence[0] for sentence in reply] == [b"!re", b"!re", b"!fatal"]
    assert reply[-1] == [b"!fatal", b"session terminated on request"]
    assert client.sock.recv(1) == b""


def test_reset_mid_table(lab: RouterLab, raw: Raw) -> None:
    lab.configure("router-000", fault="reset_mid_table", after_rows=2)
    client = raw("router-000")
    client.login(USERNAME, PASSWORD)

    client.send("/ppp/secret/print", PROPLIST)
    with pytest.raises(ConnectionResetError):
        read_forever(client)
    with pytest.raises(ConnectionResetError):
        print_secrets(connect(lab, "router-000"))


def test_mid_reply_faults_spare_other_menus(lab: RouterLab, fleet: Fleet) -> None:
    lab.configure("router-000", fault="close_mid_reply")
    api = connect(lab, "router-000")

    profiles = list(api.rawCmd("/ppp/profile/print", "=.proplist=name"))

    assert len(profiles) == len(fleet.router("router-000").profiles)
    api.close()


def test_legacy_login_needs_the_token_method(lab: RouterLab) -> None:
    lab.configure("router-000", fault="legacy_login")

    api = connect(lab, "router-000", login_method=librouteros.login.token)
    assert len(print_secrets(api)) == 20
    api.close()
    assert lab.endpoint("router-000").tls is False


def test_tls_only_serves_anonymous_dh_and_nothing_plain(lab: RouterLab) -> None:
    lab.configure("router-000", fault="tls_only")
    endpoint = lab.endpoint("router-000")
    context = anonymous_client_context()

    api = connect(lab, "router-000", ssl_wrapper=context.wrap_socket)
    rows = print_secrets(api)
    cipher = api.protocol.transport.sock.cipher()
    api.close()
    with pytest.raises((ConnectionClosed, OSError)):
        connect(lab, "router-000", timeout=1)
    with pytest.raises(ssl.SSLError):
        connect(lab, "router-000", ssl_wrapper=verifying(endpoint.host))

    assert len(rows) == 20
    assert cipher[0].startswith("ADH-")
    assert (endpoint.tls, endpoint.tls_verify, endpoint.tls_anonymous) == (True, False, True)
    assert endpoint.ca_path is None


def test_tls_cert_is_verified_with_the_lab_certificate(lab: RouterLab) -> None:
    lab.configure("router-001", fault="tls_cert")
    endpoint = lab.endpoint("router-001")
    assert endpoint.ca_path is not None
    assert endpoint.ca_path == lab.tls_ca_path

    api = connect(lab, "router-001", ssl_wrapper=verifying(endpoint.host, str(endpoint.ca_path)))
    rows = print_secrets(api)
    api.close()
    with pytest.raises(ssl.SSLCertVerificationError):
        connect(lab, "router-001", ssl_wrapper=verifying(endpoint.host))

    assert len(rows) == 20
    assert (endpoint.tls, endpoint.tls_verify, endpoint.tls_anonymous) == (True, True, False)


def test_missing_menu(lab: RouterLab) -> None:
    lab.configure("router-000", fault="missing_menu")
    api = connect(lab, "router-000")

    with pytest.raises(TrapError, match="no such command"):
        list(api.rawCmd("/queue/simple/print"))
    assert len(print_secrets(api)) == 20
    api.close()


def test_flaky_resets_the_first_connections_then_works(lab: RouterLab) -> None:
    lab.configure("router-000", fault="flaky", failures=2)

    for _ in range(2):
        with pytest.raises(ConnectionError):
            connect(lab, "router-000")
    api = connect(lab, "router-000")
    api.close()

    stats = lab.stats("router-000")
    assert (stats.connections, stats.logins) == (3, 1)


def test_latency_per_router_outlasts_a_short_timeout(lab: RouterLab) -> None:
    lab.configure("router-000", latency=1.0)

    with pytest.raises(TimeoutError):
        connect(lab, "router-000", timeout=0.3)
    connect(lab, "router-001", timeout=0.3).close()
