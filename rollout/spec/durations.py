"""Durations as users write them in specs: ``30s``, ``2m``, ``1h30m``, ``500ms``.

Kept separate because the spec, the policies, the CLI and the benchmark all parse them.
"""

from __future__ import annotations

import re

__all__ = ["format_duration", "parse_duration"]

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


def parse_duration(text: str | int | float) -> float:
    """Return the duration in seconds; raise ValueError with a clear message otherwise.

    A bare number is seconds. Compound forms such as ``1h30m`` are accepted, as in Go.
    """
    if isinstance(text, bool):
        raise ValueError(f"expected a duration such as 30s, 2m or 1h, got {text!r}")
    if isinstance(text, int | float):
        if text < 0:
            raise ValueError(f"duration must not be negative, got {text}")
        return float(text)
    value = text.strip()
    if not value:
        raise ValueError("expected a duration such as 30s, 2m or 1h, got an empty string")
    position = 0
    total = 0.0
    for match in _PART.finditer(value):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if position != len(value) or position == 0:
        raise ValueError(f"expected a duration such as 30s, 2m or 1h, got {text!r}")
    return total


def format_duration(seconds: float) -> str:
    """Format seconds compactly for people: ``90`` -> ``1m30s``."""
    if seconds < 1 and seconds > 0:
        return f"{round(seconds * 1000)}ms"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = []
    if hours:
        parts.append(f"{hours}h")
    if minutes:
        parts.append(f"{minutes}m")
    if secs or not parts:
        parts.append(f"{secs}s")
    return "".join(parts)
