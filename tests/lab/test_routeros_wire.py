"""The lab's word and sentence encoding, checked against the byte layouts of the protocol."""

from __future__ import annotations

import pytest

from emerald_cli.lab.routeros.wire import (
    ProtocolError,
    SentenceReader,
    decode_length,
    encode_length,
    encode_reply,
    encode_rows,
    encode_sentence,
)


@pytest.mark.parametrize(
    ("length", "encoded"),
    [
        (0, b"\x00"),
        (0x7F, b"\x7f"),
        (0x80, b"\x80\x80"),
        (0x3FFF, b"\xbf\xff"),
        (0x4000, b"\xc0\x40\x00"),
        (0x1FFFFF, b"\xdf\xff\xff"),
        (0x200000, b"\xe0\x20\x00\x00"),
        (0xFFFFFFF, b"\xef\xff\xff\xff"),
        (0x10000000, b"\xf0\x10\x00\x00\x00"),
    ],
)
def test_length_prefix_forms(length: int, encoded: bytes) -> None:
    assert encode_length(length) == encoded
    assert decode_length(encoded) == (length, len(encoded))


def test_decode_length_asks_for_more_bytes_when_the_prefix_is_cut() -> None:
    assert decode_length(b"\xc0\x40") == (-1, 3)
    assert decode_length(b"\xf0\x10") == (-1, 5)


def test_reserved_control_byte_is_refused() -> None:
    with pytest.raises(ProtocolError, match="0xF8"):
        SentenceReader().feed(b"\xf8")


def test_reader_rebuilds_sentences_fed_one_byte_at_a_time() -> None:
    long_word = b"=comment=" + b"x" * 20000
    stream = encode_sentence([b"/login", b"=name=a"]) + encode_sentence([b"/x", long_word])
    reader = SentenceReader()

    sentences = []
    for offset in range(len(stream)):
        sentences.extend(reader.feed(stream[offset : offset + 1]))

    assert sentences == [[b"/login", b"=name=a"], [b"/x", long_word]]
    assert reader.pending == 0


def test_reply_words_carry_the_tag_and_the_router_code_page() -> None:
    latin = encode_reply("!re", {"comment": "Peña"}, encoding="latin-1", tag=b"7")
    utf8 = encode_reply("!re", {"comment": "Peña"}, encoding="utf-8", tag=None)

    assert latin == b"\x03!re\x0d=comment=Pe\xf1a\x06.tag=7\x00"
    assert utf8 == b"\x03!re\x0e=comment=Pe\xc3\xb1a\x00"


def test_rows_encode_like_single_replies_and_send_bytes_unchanged() -> None:
    rows = [[("name", "a")], [("host-name", b"\xff\xfe")]]

    encoded = encode_rows(rows, encoding="utf-8", tag=b"t")

    expected = encode_reply("!re", {"name": "a"}, encoding="utf-8", tag=b"t") + encode_reply(
        "!re", {"host-name": b"\xff\xfe"}, encoding="utf-8", tag=b"t"
    )
    assert encoded == expected
