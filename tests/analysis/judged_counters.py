"""Hand-made per-pod counters judged one tick at a time by the shipped error policy's count
tests: the fixture the count-check and pod-corroboration tests share.

Counters are cumulative ``[errors, requests]`` per pod; a pod named ``canary-…`` or
``stable-…`` belongs to that version. There are no sample times, so each tick is one
interval.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from rollout.analysis.count_check import CountResult, judge_counts
from rollout.analysis.observations import PolicyObservation, Reading
from rollout.analysis.running import PolicyProgress
from rollout.source.files import shipped_policies
from rollout.spec.policy import RenderedPolicy, resolve

POLICY = resolve(next(p for p in shipped_policies() if p.name == "istio-error-ratio"), {})
LEVEL = math.log(200)


class JudgedCounters:
    """Cumulative counters per pod, and the policy's progress across the ticks judged."""

    policy: RenderedPolicy = POLICY

    def __init__(self, *pods: str) -> None:
        self.values = {pod: [0.0, 0.0] for pod in pods}
        self.progress = PolicyProgress()
        self.tick = 0

    def judge(self, served: Mapping[str, tuple[int, int]]) -> CountResult:
        """One tick: add each pod's ``(errors, requests)`` and judge the totals so far."""
        for pod, (bad, total) in served.items():
            self.values[pod][0] += bad
            self.values[pod][1] += total
        observation = PolicyObservation(
            self.policy.name, canary=self._readings("canary"), stable=self._readings("stable")
        )
        result = judge_counts(
            self.policy,
            observation,
            self.progress,
            fields=("errors", "total"),
            compare=True,
            log_threshold=LEVEL,
            tick=self.tick,
            no_data_fails=False,
        )
        self.tick += 1
        self.progress = result.progress
        return result

    def _readings(self, version: str) -> dict[str, Reading]:
        mine = {pod: v for pod, v in self.values.items() if pod.startswith(version)}
        return {
            "errors": Reading("errors", {f"pod={pod}": bad for pod, (bad, _) in mine.items()}),
            "total": Reading("total", {f"pod={pod}": n for pod, (_, n) in mine.items()}),
        }
