"""Problems found in specs and policies, each naming the file, the line and the field.

One ``Problem`` becomes one output line (``path:line: field: message``) in ``rollout
validate``, one condition on a Rollout, or one JSON object with ``--output json``.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable

__all__ = ["Problem", "did_you_mean"]


@dataclasses.dataclass(frozen=True)
class Problem:
    """One thing wrong with one document."""

    path: str
    line: int | None
    field: str
    message: str

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
