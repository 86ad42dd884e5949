"""The three canary controllers the detection benchmark compares, ticking in virtual time.

- ``Ours`` is the project's real code, not a copy: the shipped policies resolved by
  ``rollout.spec.policy.resolve``, observations judged by ``rollout.analysis.judge.judge``,
  and the steps walked by the decision core ``rollout.decide.decide`` with the spec's
  defaults (``default_steps()`` and ``Analysis()``), its state carried exactly as the
  coordinator carries it (``RolloutState.analysis``).
- ``Flagger`` follows Flagger's tutorial analysis: every ``interval`` (1m) it checks the
  canary's request success rate over the last minute (>= 99%) and its p99 (<= 500 ms);
  a failed check increments ``failedChecks`` and holds the weight; the rollback happens at
  the interval after ``failedChecks`` reached ``threshold`` (5); a passing check adds
  ``stepWeight`` (10) up to ``maxWeight`` (50), and a passing check at ``maxWeight``
  promotes. A check without canary data fails, as Flagger's "no values found" does.
- ``Argo`` follows an Argo Rollouts canary with steps 10/20/30/40/50% and 1m pauses and a
  background AnalysisRun measuring the success rate every minute from the start
  (``result >= 0.99``); the rollout aborts when more than ``failureLimit`` (3)
  measurements failed, and is promoted when the steps are done. A measurement without
  data is an error, not a failure, as in Argo.

Each controller exposes ``weight``, ``next_tick``, ``tick(now, view)`` and, once decided,
``result`` (``"rolledBack"`` or ``"promoted"``) with ``decision_sample``: the canary
requests in the evidence when it decided.
"""

from __future__ import annotations

import math

from bench.traffic import PrometheusView, histogram_quantile
from rollout.analysis.judge import judge
from rollout.analysis.observations import PolicyObservation, Reading
from rollout.analysis.verdicts import Verdict
from rollout.decide import Observations, decide
from rollout.spec.base import seconds
from rollout.spec.builtin import shipped_policies
from rollout.spec.policy import RenderedPolicy, resolve
from rollout.spec.rollout import Rollout
from rollout.state import Phase, RolloutState

ROLLED_BACK = "rolledBack"
PROMOTED = "promoted"
QUANTILE_WINDOW = 60.0
"""The ``window`` placeholder of our p99 policy (1m), as the coordinator fills it."""


def default_rollout() -> Rollout:
    """A rollout of v2 over stable v1 with every default: steps, analysis, policies."""
    return Rollout.model_validate(
        {
            "metadata": {"name": "checkout", "namespace": "shop"},
            "spec": {
                "version": "v2",
                "traffic": {
                    "host": "checkout.shop.svc.cluster.local",
                    "virtualServices": [{"name": "checkout"}],
                    "destinationRule": "checkout",
                },
            },
        }
    )


def _readings(
    policy: RenderedPolicy, view: PrometheusView, version: str, now: float
) -> dict[str, Reading]:
    latest = view.latest(version)
    readings: dict[str, Reading] = {}
    for field in policy.templates:
        if field == "quantile":
            window = view.window(version, now, QUANTILE_WINDOW)
            value = math.nan if window is None else histogram_quantile(0.99, window.buckets)
            readings[field] = Reading.of(field, value)
        elif latest is None:
            readings[field] = Reading(query=field, series={})
        else:
            number = {"errors": latest.errors, "total": latest.total, "slow": latest.slow}[field]
            readings[field] = Reading(query=field, series={"": float(number)})
    return readings


class Ours:
    """The project's analysis and decision core, driven tick by tick."""

    name = "ours"

    def __init__(self, rollout: Rollout | None = None) -> None:
        self.rollout = rollout or default_rollout()
        by_name = {policy.name: policy for policy in shipped_policies()}
        self.policies = [
            resolve(by_name[ref.name], ref.params) for ref in self.rollout.spec.analysis.policies
        ]
        self.interval = seconds(self.rollout.spec.analysis.interval)
        self.state = RolloutState(stable_version="v1", spec_hash="bench-v1")
        self.weight = 0
        self.next_tick = 0.0
        self.result: str | None = None
        self.decision_sample: float | None = None
        self.last_verdict: Verdict | None = None

    def tick(self, now: float, view: PrometheusView) -> None:
        self.next_tick = now + self.interval
        observations = {
            policy.name: PolicyObservation(
                policy.name,
                canary=_readings(policy, view, "canary", now),
                stable=_readings(policy, view, "stable", now),
            )
            for policy in self.policies
        }
        verdict, analysis = judge(
            self.policies, observations, self.rollout.spec.analysis, self.state.analysis
        )
        decision = decide(
            self.rollout,
            self.state,
            Observations(
                now=now,
                spec_hash="bench-v2",
                canary_ready=True,
                verdict=verdict,
                analysis_state=analysis.as_dict(),
            ),
        )
        self.state = decision.state
        self.last_verdict = verdict
        if decision.weights is not None:
            self.weight = decision.weights.canary_weight
        if self.state.phase is Phase.ROLLED_BACK:
            self.result = ROLLED_BACK
            self.decision_sample = verdict.canary_requests
        elif self.state.phase is Phase.SUCCEEDED and self.state.stable_version == "v2":
            self.result = PROMOTED


def _success_rate(view: PrometheusView, now: float) -> float | None:
    window = view.window("canary", now, 60.0)
    if window is None or window.total <= 0:
        return None
    return 1.0 - window.errors / window.total


def _visible_canary_requests(view: PrometheusView) -> float:
    latest = view.latest("canary")
    return latest.total if latest is not None else 0.0


class Flagger:
    """Flagger's tutorial analysis: interval 1m, threshold 5, stepWeight 10, maxWeight 50."""

    name = "flagger"
    interval = 60.0
    threshold = 5
    step_weight = 10
    max_weight = 50

    def __init__(self) -> None:
        self.weight = self.step_weight
        self.failed_checks = 0
        self.next_tick = self.interval
        self.result: str | None = None
        self.decision_sample: float | None = None

    def tick(self, now: float, view: PrometheusView) -> None:
        self.next_tick = now + self.interval
        if self.failed_checks >= self.threshold:
            self.result = ROLLED_BACK
            self.decision_sample = _visible_canary_requests(view)
            return
        success = _success_rate(view, now)
        window = view.window("canary", now, 60.0)
        p99 = math.nan if window is None else histogram_quantile(0.99, window.buckets)
        passed = success is not None and success >= 0.99 and not math.isnan(p99) and p99 <= 500
        if not passed:
            self.failed_checks += 1
            return
        if self.weight >= self.max_weight:
            self.result = PROMOTED
            return
        self.weight = min(self.weight + self.step_weight, self.max_weight)


class Argo:
    """Argo Rollouts: steps 10..50% with 1m pauses, background analysis, failureLimit 3."""

    name = "argo"
    weights = (10, 20, 30, 40, 50)
    pause = 60.0
    failure_limit = 3

    def __init__(self) -> None:
        self.weight = self.weights[0]
        self.step = 0
        self.failures = 0
        self.next_tick = 0.0
        self.result: str | None = None
        self.decision_sample: float | None = None

    def tick(self, now: float, view: PrometheusView) -> None:
        self.next_tick = now + self.pause
        success = _success_rate(view, now)
        if success is not None and success < 0.99:
            self.failures += 1
            if self.failures > self.failure_limit:
                self.result = ROLLED_BACK
                self.decision_sample = _visible_canary_requests(view)
                return
        if now <= 0:
            return
        self.step += 1
        if self.step >= len(self.weights):
            self.result = PROMOTED
            return
        self.weight = self.weights[self.step]
