"""The running statistics the analysis carries from tick to tick, as JSON-ready data.

The coordinator stores this in the Rollout's status (``status.analysis``) and hands it back
at the next tick, so a restarted controller resumes the sequential tests exactly where
they were. An empty mapping means "nothing observed yet": the next observation becomes the
baseline. Everything here round-trips through ``json.dumps``/``json.loads``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from rollout.analysis.counts import CounterTrack

__all__ = ["SCHEMA", "AnalysisState", "PolicyProgress"]

SCHEMA = 1
"""Bumped when the meaning of the stored statistics changes; older state is restarted."""

PENDING_KEYS = ("canary_bad", "canary_total", "stable_bad", "stable_total")


@dataclasses.dataclass(frozen=True)
class PolicyProgress:
    """One count policy's counters and sequential statistics.

    ``pending`` holds increases not yet paired into a comparison interval: the canary's
    and stable's targets are scraped at different moments, so an interval closes only
    when both versions' totals have moved.
    """

    counters: Mapping[str, CounterTrack] = dataclasses.field(default_factory=dict)
    pending: Mapping[str, float] = dataclasses.field(default_factory=dict)
    comparison: tuple[float, ...] = ()
    peak_log_evidence: float = 0.0
    rejected: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "counters": {name: track.as_dict() for name, track in self.counters.items()},
            "pending": {key: float(self.pending.get(key, 0.0)) for key in PENDING_KEYS},
            "comparison": [_finite(x) for x in self.comparison],
            "peakLogEvidence": _finite(self.peak_log_evidence),
            "rejected": self.rejected,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PolicyProgress:
        counters = {
            str(name): CounterTrack.from_dict(track)
            for name, track in dict(data.get("counters", {})).items()
        }
        pending = {key: float(dict(data.get("pending", {})).get(key, 0.0)) for key in PENDING_KEYS}
        return cls(
            counters=counters,
            pending=pending,
            comparison=tuple(float(x) for x in data.get("comparison", ())),
            peak_log_evidence=float(data.get("peakLogEvidence", 0.0)),
            rejected=bool(data.get("rejected", False)),
        )


@dataclasses.dataclass(frozen=True)
class AnalysisState:
    """Everything ``judge`` needs from earlier ticks."""

    ticks: int = 0
    policies: Mapping[str, PolicyProgress] = dataclasses.field(default_factory=dict)

    @property
    def fresh(self) -> bool:
        return self.ticks == 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "ticks": self.ticks,
            "policies": {name: progress.as_dict() for name, progress in self.policies.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> AnalysisState:
        """Read stored state; an empty, missing or older-schema mapping starts afresh."""
        if not data or data.get("schema") != SCHEMA:
            return cls()
        policies = {
            str(name): PolicyProgress.from_dict(progress)
            for name, progress in dict(data.get("policies", {})).items()
        }
        return cls(ticks=int(data.get("ticks", 0)), policies=policies)


def _finite(value: float) -> float:
    """JSON has no infinities: clamp them (the statistics never need more range)."""
    if math.isnan(value):
        return 0.0
    return max(-1e12, min(1e12, value))
