"""Problems found in specs and policies, each naming the file, the line and the field.

One ``Problem`` becomes one output line (``path:line: field: message``) in ``rollout
validate``, one condition on a Rollout, or one JSON object with ``--output json``.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable

__all__ = ["Problem", "did_you_mean"]

LONGEST_TEXT = 240
"""Field and message are cut to this many characters: a 200,000-character value quoted
in a message must not travel on into a status, an Event, an alert or a log line."""


def _clip(text: str) -> str:
    return text if len(text) <= LONGEST_TEXT else text[: LONGEST_TEXT - 1] + "\u2026"


@dataclasses.dataclass(frozen=True)
class Problem:
    """One thing wrong with one document (field and message at most ``LONGEST_TEXT``)."""

    path: str
    line: int | None
    field: str
    message: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "field", _clip(self.field))
        object.__setattr__(self, "message", _clip(self.message))

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        field = f" {self.field}:" if self.field else ""
        return f"{where}:{field} {self.message}"

    def as_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A hint for a near miss, or an empty string when nothing is close."""
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {matches[0]!r}?)" if matches else ""
