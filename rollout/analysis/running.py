"""The running statistics the analysis carries from tick to tick, as JSON-ready data.

The coordinator stores this in the Rollout's status (``status.analysis``) and hands it back
at the next tick, so a restarted controller resumes the sequential tests where they were
last written (``rollout/status_writes.py``: at most 30 s of evidence earlier; the next
interval then spans the gap, which is still a valid step of the tests). An empty mapping
means "nothing observed yet": the next observation becomes the baseline. Everything here
round-trips through ``json.dumps``/``json.loads``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from rollout.analysis.alignment import Timeline
from rollout.analysis.dispersion import Spread
from rollout.analysis.history import History
from rollout.analysis.pods import Hold, Rejection

__all__ = ["COUNTED_KEYS", "SCHEMA", "AnalysisState", "PolicyProgress"]

SCHEMA = 2
"""Bumped when the meaning of the stored statistics changes; older state is restarted."""

COUNTED_KEYS = (
    "canary_bad",
    "canary_total",
    "stable_bad",
    "stable_total",
    "canary_expected",
    "shared_incidents",
)
"""What a policy counts over the rollout: both versions' bad and total requests, the canary
requests its weights predicted, and the intervals set apart as shared incidents."""


@dataclasses.dataclass(frozen=True)
class PolicyProgress:
    """One count policy's aligned counters and sequential statistics.

    ``timeline`` holds every counter series with its last samples (``alignment.py``);
    ``counted`` the bad and total requests of both versions up to the last cut, and the
    canary requests its weights predicted from stable's;
    ``spread`` stable's noise (``dispersion.py``); ``comparison`` and ``absolute`` the log
    likelihood ratios of the two rejection tests, one per grid point; ``acceptance`` the
    log likelihood ratio of "within the SLO" against "twice over it"; ``grey_entered``
    the canary requests counted when the rejection evidence entered its grey zone (-1:
    not in it); ``pods`` each canary pod's leave-one-out rejection statistics (``pods.py``);
    ``history`` what stable's look-back showed of its pods' noise (``history.py``);
    ``held`` the rejection tests started afresh once the pooled evidence reached the level
    without the check across pods (``pods.Hold``), None before; ``pod_timeline`` the
    per-destination-pod series of a policy that has them, on intervals of their own
    (``pod_series.py``), read by the check across pods.
    """

    timeline: Timeline = dataclasses.field(default_factory=Timeline)
    counted: Mapping[str, float] = dataclasses.field(default_factory=dict)
    spread: Spread = dataclasses.field(default_factory=Spread)
    comparison: tuple[float, ...] = ()
    absolute: tuple[float, ...] = ()
    acceptance: float = 0.0
    peak_log_evidence: float = 0.0
    rejected: bool = False
    grey_entered: float = -1.0
    pods: Mapping[str, Rejection] = dataclasses.field(default_factory=dict)
    history: History = dataclasses.field(default_factory=History)
    held: Hold | None = None
    pod_timeline: Timeline = dataclasses.field(default_factory=Timeline)

    def count(self, key: str) -> float:
        return float(self.counted.get(key, 0.0))

    def as_dict(self) -> dict[str, Any]:
        return {
            "timeline": self.timeline.as_dict(),
            "counted": {key: self.count(key) for key in COUNTED_KEYS},
            "spread": self.spread.as_list(),
            "comparison": [_finite(x) for x in self.comparison],
            "absolute": [_finite(x) for x in self.absolute],
            "acceptance": _finite(self.acceptance),
            "peakLogEvidence": _finite(self.peak_log_evidence),
            "rejected": self.rejected,
            "greyEntered": self.grey_entered,
            "pods": {
                key: [_finite(x) for x in statistics.as_list()]
                for key, statistics in self.pods.items()
            },
            "history": self.history.as_list(),
            "held": None if self.held is None else [_finite(x) for x in self.held.as_list()],
            "podTimeline": self.pod_timeline.as_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PolicyProgress:
        counted = dict(data.get("counted", {}))
        return cls(
            timeline=Timeline.from_dict(dict(data.get("timeline", {}))),
            counted={key: float(counted.get(key, 0.0)) for key in COUNTED_KEYS},
            spread=Spread.from_list(data.get("spread")),
            comparison=tuple(float(x) for x in data.get("comparison", ())),
            absolute=tuple(float(x) for x in data.get("absolute", ())),
            acceptance=float(data.get("acceptance", 0.0)),
            peak_log_evidence=float(data.get("peakLogEvidence", 0.0)),
            rejected=bool(data.get("rejected", False)),
            grey_entered=float(data.get("greyEntered", -1.0)),
            pods={
                str(key): Rejection.from_list([float(x) for x in values])
                for key, values in dict(data.get("pods", {})).items()
            },
            history=History.from_list(data.get("history")),
            held=Hold.from_list([float(x) for x in data.get("held") or ()]),
            pod_timeline=Timeline.from_dict(dict(data.get("podTimeline", {}))),
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

    @staticmethod
    def fresh_in(data: Mapping[str, Any] | None) -> bool:
        """Whether stored state reads back as fresh (the next tick is the baseline), without
        reading the rest of it."""
        return not data or data.get("schema") != SCHEMA or not int(data.get("ticks", 0))

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
    if -1e12 <= value <= 1e12:
        return value
    if math.isnan(value):
        return 0.0
    return max(-1e12, min(1e12, value))
