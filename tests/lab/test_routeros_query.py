"""`print` arguments: `.proplist` and the query stack, on rows shaped like RouterOS prints."""

from __future__ import annotations

import pytest

from emerald_cli.lab.routeros.query import PrintRequest, QueryError

ROWS = [
    {"name": "a", "profile": "FIBRA-50", "disabled": "false", "limit-bytes-in": "5"},
    {"name": "b", "profile": "CORTE", "disabled": "true", "comment": "moroso"},
    {"name": "c", "profile": "FIBRA-50", "disabled": "false", "comment": ""},
    {"name": "d", "profile": "FIBRA-100", "disabled": "true", "limit-bytes-in": "40"},
]


def names(*query: str) -> list[str]:
    request = PrintRequest.from_words(query)
    return [str(row["name"]) for row in request.matching(ROWS)]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ((), ["a", "b", "c", "d"]),
        (("?profile=FIBRA-50",), ["a", "c"]),
        (("?=profile=FIBRA-50",), ["a", "c"]),
        (("?comment",), ["b", "c"]),
        (("?-comment",), ["a", "d"]),
        (("?>comment=",), ["b"]),
        (("?<limit-bytes-in=10",), ["a"]),
        (("?>limit-bytes-in=10",), ["d"]),
        (("?profile=CORTE", "?profile=FIBRA-100", "?#|"), ["b", "d"]),
        (("?profile=FIBRA-50", "?disabled=false", "?#&"), ["a", "c"]),
        (("?profile=FIBRA-50", "?#!"), ["b", "d"]),
        (("?disabled=yes",), ["b", "d"]),
        (("?profile=FIBRA-50", "?comment"), ["c"]),
        (("?profile=CORTE", "?#.", "?#&"), ["b"]),
        (("?profile=CORTE", "?name=a", "?name=d", "?#||"), ["a", "b", "d"]),
        (("?name=a", "?name=b", "?#1|"), ["a"]),
        (("?profile=CORTE", "?name=a", "?#1"), ["b"]),
    ],
)
def test_query_stack(query: tuple[str, ...], expected: list[str]) -> None:
    assert names(*query) == expected


def test_unknown_operation_is_refused() -> None:
    with pytest.raises(QueryError, match="unknown query operation"):
        names("?name=a", "?#x")


def test_proplist_keeps_only_the_attributes_a_row_has_in_the_asked_order() -> None:
    request = PrintRequest.from_words(["=.proplist=comment,name,password"])

    projected = [list(request.project(row)) for row in ROWS[:2]]

    assert projected == [[("name", "a")], [("comment", "moroso"), ("name", "b")]]
    assert not request.sends("profile")
    assert request.sends("password")


def test_no_proplist_sends_everything() -> None:
    request = PrintRequest.from_words([])

    assert dict(request.project(ROWS[0])) == ROWS[0]
    assert request.sends("password")
