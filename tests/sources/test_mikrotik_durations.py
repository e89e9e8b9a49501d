"""RouterOS durations in both printed forms, and what is not a duration."""

from __future__ import annotations

import pytest

from emerald_cli.sources.mikrotik.durations import seconds


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1w2d3h4m5s", 604_800 + 2 * 86_400 + 3 * 3_600 + 4 * 60 + 5),
        ("4h20m11s", 15_611),
        ("44m55s", 2_695),
        ("0s", 0),
        ("1.5s", 1.5),
        ("500ms", 0.5),
        ("1d02:15:03", 86_400 + 2 * 3_600 + 15 * 60 + 3),
        ("3w2d04:05:06", 3 * 604_800 + 2 * 86_400 + 4 * 3_600 + 5 * 60 + 6),
        ("02:15:03", 2 * 3_600 + 15 * 60 + 3),
        ("00:00:01.25", 1.25),
    ],
)
def test_both_forms_are_read(text: str, expected: float) -> None:
    assert seconds(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", [None, "", "never", "5x", "1d 02:15:03", "1d02:15", "s", "1d2"])
def test_what_is_no_duration_is_none(text: str | None) -> None:
    assert seconds(text) is None
