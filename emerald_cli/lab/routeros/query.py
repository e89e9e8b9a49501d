"""`print` arguments: the `.proplist` attribute and the `?` query stack, as RouterOS reads them.

The query words are pushed on a stack of booleans; `?#` words combine them and the row matches
when every value left on the stack is true (an empty query matches every row).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

logger = logging.getLogger(__name__)

Row = Mapping[str, str | bytes]
Test = Callable[[Row], bool]

_INDEX_THEN_REST = re.compile(r"(\d+)(.?)")
_BOOLEANS = {"yes": "true", "true": "true", "no": "false", "false": "false"}


class QueryError(ValueError):
    """A query word the router would reject; the server answers it with a `!trap`."""


@dataclass(frozen=True)
class PrintRequest:
    """What one `print` asked for: which attributes, which rows, whether only the count."""

    proplist: tuple[str, ...] | None
    query: tuple[str, ...]
    count_only: bool = False

    @classmethod
    def from_words(cls, words: Iterable[str]) -> PrintRequest:
        proplist: tuple[str, ...] | None = None
        query: list[str] = []
        count_only = False
        for word in words:
            if word.startswith("=.proplist="):
                names = word[len("=.proplist=") :]
                proplist = tuple(name for name in names.split(",") if name)
            elif word.startswith("?"):
                query.append(word[1:])
            elif word.startswith("=count-only="):
                count_only = True
        return cls(proplist=proplist, query=tuple(query), count_only=count_only)

    def matching(self, rows: Iterable[Row]) -> Iterator[Row]:
        """The rows the query stack accepts, lazily, in table order."""
        matches = compile_query(self.query)
        return (row for row in rows if matches(row))

    def project(self, row: Row) -> Iterable[tuple[str, str | bytes]]:
        """The attributes of `row` to send: all, or the `.proplist` ones that the row has."""
        if self.proplist is None:
            return row.items()
        return [(name, row[name]) for name in self.proplist if name in row]

    def sends(self, attribute: str) -> bool:
        return self.proplist is None or attribute in self.proplist


def compile_query(words: Iterable[str]) -> Test:
    """Build one test for a row from the query words (without their leading `?`)."""
    program = [_compile_word(word) for word in words]
    if not program:
        return _always

    def matches(row: Row) -> bool:
        stack: list[bool] = []
        for step in program:
            step(stack, row)
        return all(stack)

    return matches


def _always(row: Row) -> bool:
    return True


def _compile_word(word: str) -> Callable[[list[bool], Row], None]:
    if word.startswith("#"):
        return _compile_operations(word[1:])
    if word.startswith(("<", ">")):
        return _compile_comparison(word[0], word[1:])
    if word.startswith("-"):
        name = word[1:]
        return lambda stack, row: stack.append(name not in row)
    if word.startswith("="):
        word = word[1:]
    if "=" not in word:
        return lambda stack, row: stack.append(word in row)

    name, value = word.split("=", 1)
    wanted = _BOOLEANS.get(value, value)
    return lambda stack, row: stack.append(_boolean_text(row.get(name)) == wanted)


def _compile_comparison(operator: str, word: str) -> Callable[[list[bool], Row], None]:
    if "=" not in word:
        raise QueryError(f"comparison without a value: ?{operator}{word}")
    name, value = word.split("=", 1)

    def compare(stack: list[bool], row: Row) -> None:
        if name not in row:
            stack.append(False)
            return
        left, right = _comparable(_text(row[name]), value)
        stack.append(left < right if operator == "<" else left > right)

    return compare


def _compile_operations(operations: str) -> Callable[[list[bool], Row], None]:
    """`?#` words: `!` negates, `&` and `|` combine two, digits pick a stack entry, `.` copies."""
    steps = _parse_operations(operations)

    def apply(stack: list[bool], row: Row) -> None:
        for step in steps:
            step(stack)

    return apply


def _parse_operations(operations: str) -> list[Callable[[list[bool]], None]]:
    steps: list[Callable[[list[bool]], None]] = []
    position = 0
    previous_was_index = False
    while position < len(operations):
        index_match = _INDEX_THEN_REST.match(operations, position)
        if index_match:
            index = int(index_match.group(1))
            follower = index_match.group(2)
            steps.append(_pick(index, replace_all=not follower))
            position = index_match.end(1)
            previous_was_index = True
            continue

        symbol = operations[position]
        position += 1
        if symbol == ".":
            if not previous_was_index:
                steps.append(_copy_top)
        elif symbol in "!&|":
            steps.append(_OPERATORS[symbol])
        else:
            raise QueryError(f"unknown query operation {symbol!r}")
        previous_was_index = False
    return steps


def _pick(index: int, *, replace_all: bool) -> Callable[[list[bool]], None]:
    def pick(stack: list[bool]) -> None:
        value = stack[-1 - index] if index < len(stack) else False
        if replace_all:
            stack[:] = [value]
        else:
            stack.append(value)

    return pick


def _copy_top(stack: list[bool]) -> None:
    stack.append(stack[-1] if stack else False)


def _negate(stack: list[bool]) -> None:
    stack.append(not _pop(stack))


def _both(stack: list[bool]) -> None:
    right, left = _pop(stack), _pop(stack)
    stack.append(left and right)


def _either(stack: list[bool]) -> None:
    right, left = _pop(stack), _pop(stack)
    stack.append(left or right)


def _pop(stack: list[bool]) -> bool:
    return stack.pop() if stack else False


_OPERATORS: dict[str, Callable[[list[bool]], None]] = {"!": _negate, "&": _both, "|": _either}


def _boolean_text(value: str | bytes | None) -> str | None:
    """Booleans compare by meaning, so `?=disabled=yes` (as librouteros sends) finds "true"."""
    text = _text(value)
    return _BOOLEANS.get(text, text) if text is not None else None


def _text(value: str | bytes | None) -> str | None:
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return value


def _comparable(left: str | None, right: str) -> tuple[int, int] | tuple[str, str]:
    """Numbers compare as numbers (as RouterOS compares typed values); the rest as text."""
    left = left or ""
    if left.lstrip("-").isdigit() and right.lstrip("-").isdigit():
        return int(left), int(right)
    return left, right
