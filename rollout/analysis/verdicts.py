"""The outcome of judging one tick, with the evidence that explains it.

These types are the contract between the analysis, the decision core (``decide``), the
status written to the cluster, the alerts and ``rollout status``: every decision carries
its evidence, so "why did it roll back?" never needs a debugger.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

__all__ = ["Evidence", "Outcome", "Verdict"]


class Outcome(enum.StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


@dataclasses.dataclass(frozen=True)
class Evidence:
    """One check of one policy at one tick: what was asked, what came back, against what."""

    policy: str
    check: str
    outcome: Outcome
    message: str
    query: str | None = None
    value: float | None = None
    threshold: float | None = None
    sample_size: float | None = None
    statistic: float | None = None
    p_value: float | None = None
    stable_value: float | None = None

    def as_dict(self) -> dict[str, Any]:
        data = {field: getattr(self, field) for field in _EVIDENCE_FIELDS}
        data["outcome"] = self.outcome.value
        return {key: value for key, value in data.items() if value is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evidence:
        fields = {f.name for f in dataclasses.fields(cls)}
        values = {key: value for key, value in data.items() if key in fields}
        values["outcome"] = Outcome(values["outcome"])
        return cls(**values)


_EVIDENCE_FIELDS = tuple(field.name for field in dataclasses.fields(Evidence))


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The verdict of one tick over every policy.

    ``outcome`` is FAIL when any check fails, INCONCLUSIVE when none fails but one could not
    decide, PASS otherwise. ``within_slo`` is True only when the outcome is PASS and the
    evidence shows the canary within every SLO with a maximum; ``promotable`` when, in
    addition, the minimum canary sample has been reached. ``leaning_worse`` when a
    rejection test is in its grey zone: the data lean towards "worse" without proving it
    yet, and no step raises the weight on such a canary.
    """

    outcome: Outcome
    evidence: tuple[Evidence, ...]
    canary_requests: float = 0.0
    promotable: bool = False
    within_slo: bool = False
    leaning_worse: bool = False

    @property
    def failed(self) -> tuple[Evidence, ...]:
        return tuple(e for e in self.evidence if e.outcome is Outcome.FAIL)

    @property
    def reason(self) -> str:
        """One line for people: the first failing (or inconclusive) check, or a pass summary."""
        for wanted in (Outcome.FAIL, Outcome.INCONCLUSIVE):
            for item in self.evidence:
                if item.outcome is wanted:
                    return f"{item.policy}: {item.message}"
        if not self.within_slo and self.outcome is Outcome.PASS:
            return (
                f"all checks pass; not yet shown within the SLOs; "
                f"{self.canary_requests:.0f} canary requests so far"
            )
        if not self.promotable and self.outcome is Outcome.PASS:
            return f"all checks pass; {self.canary_requests:.0f} canary requests so far"
        return "all checks pass"
