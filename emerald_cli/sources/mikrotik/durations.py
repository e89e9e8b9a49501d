"""RouterOS durations as seconds: "1w2d3h4m5s", "44m55s", "1.5s", "500ms", "1d02:15:03".

Menus print a duration in units or as a clock with optional weeks and days before it,
depending on the RouterOS version, so both are read. The values stored stay as the router sent
them; seconds are only for what is computed from them, such as when a session began.
"""

from __future__ import annotations

import re

UNIT_SECONDS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1, "ms": 0.001}
UNIT_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|w|d|h|m|s)")
CLOCK = re.compile(r"(\d+):(\d{2}):(\d{2}(?:\.\d+)?)")


def seconds(text: str | None) -> float | None:
    """The duration in seconds; None for nothing, or for text that is no duration.

    >>> seconds("1d02:15:03"), seconds("4h20m11s"), seconds("1.5s")
    (94503.0, 15611.0, 1.5)
    """
    if not text:
        return None

    days_part, clock_part = text, ""
    if ":" in text:
        split = len(text.rstrip("0123456789:.")) if text[-1].isdigit() else len(text)
        days_part, clock_part = text[:split], text[split:]

    total = _units(days_part)
    if total is None:
        return None
    if clock_part:
        clock = CLOCK.fullmatch(clock_part)
        if clock is None:
            return None
        hours, minutes, rest = clock.groups()
        total += int(hours) * 3_600 + int(minutes) * 60 + float(rest)
    return total


def _units(text: str) -> float | None:
    total, position = 0.0, 0
    for part in UNIT_PART.finditer(text):
        if part.start() != position:
            return None
        total += float(part.group(1)) * UNIT_SECONDS[part.group(2)]
        position = part.end()
    return total if position == len(text) else None
