"""The canary controllers the detection benchmark compares, ticking in virtual time.

- ``Ours`` is the project's real code, not a copy: the shipped policies resolved by
  ``rollout.spec.policy.resolve``, observations judged by ``rollout.analysis.judge.judge``,
  and the steps walked by the decision core ``rollout.decide.decide`` with the spec's
  defaults (``default_steps()`` and ``Analysis()``), its state carried as the
  coordinator carries it (the analysis statistics as the object ``judge`` returned, which
  is what their stored JSON reads back as; ``RolloutState.analysis`` written at the end).
- ``Flagger`` follows Flagger's tutorial analysis: every ``interval`` (1m) it checks the
  canary's request success rate and p99 over the last minute; a failed check increments
  ``failedChecks`` and holds the weight; the rollback happens at the interval after
  ``failedChecks`` reached ``threshold`` (5); a passing check adds ``stepWeight`` (10) up to
  ``maxWeight`` (50), and a passing check at ``maxWeight`` promotes. A check without canary
  data fails, as Flagger's "no values found" does.
- ``FlaggerMatched`` is Flagger's rule with our first weight and step times (1% for 2m,
  10% for 1m, 50% for 1m): what the rule does, apart from the schedule.
- ``Argo`` follows an Argo Rollouts canary with steps 10/20/30/40/50% and 1m pauses and a
  background AnalysisRun measuring every minute from the start; the rollout aborts when
  more than ``failureLimit`` (3) measurements failed, and is promoted when the steps are
  done. A measurement without data is an error, not a failure, as in Argo.

Every controller is given the same SLOs: at most 1% errors and a p99 of at most 300 ms
(ours through its shipped default policies). Flagger's built-in Istio queries count
``reporter="destination"`` (every retried attempt), Argo's documented ones
``reporter="source"`` (what the caller saw); ours follows its policies' templates.

Each controller exposes ``weight``, ``next_tick``, ``tick(now, view)`` and, once decided,
``result`` (``"rolledBack"`` or ``"promoted"``) with ``decision_sample``: the canary
requests in the evidence when it decided.
"""

from __future__ import annotations

import math

import numpy as np

from bench.prometheus_reads import BUCKETS_MS
from bench.traffic import (
    ATTEMPT_ERRORS,
    ATTEMPTS,
    ERRORS,
    REQUESTS,
    SLOW,
    PrometheusView,
)

# judge and decide are re-exported: a test checks the benchmark runs the real decision code
from rollout.analysis.judge import judge as judge
from rollout.analysis.observations import PolicyObservation, Reading
from rollout.analysis.pod_series import pod_count_fields
from rollout.analysis.running import AnalysisState
from rollout.analysis.verdicts import Verdict
from rollout.decide import Observations
from rollout.decide import decide as decide
from rollout.source.files import shipped_policies
from rollout.spec.base import seconds
from rollout.spec.policy import DUMMY_CONTEXT, RenderedPolicy, resolve
from rollout.spec.rollout import Rollout
from rollout.state import Phase, RolloutState


def histogram_quantile(quantile: float, buckets: np.ndarray) -> float:
    """Prometheus' ``histogram_quantile`` on per-bucket counts (the last bucket is +Inf)."""
    cumulative = np.cumsum(buckets)
    total = float(cumulative[-1])
    if total <= 0:
        return math.nan
    rank = quantile * total
    index = int(np.searchsorted(cumulative, rank, side="left"))
    if index >= len(BUCKETS_MS):
        return BUCKETS_MS[-1]
    upper = BUCKETS_MS[index]
    lower = 0.0 if index == 0 else BUCKETS_MS[index - 1]
    below = 0.0 if index == 0 else float(cumulative[index - 1])
    inside = float(cumulative[index]) - below
    if inside <= 0:
        return upper
    return lower + (upper - lower) * (rank - below) / inside


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


def _reporter_is_source(policy: RenderedPolicy) -> bool:
    """Whether the policy counts what the caller saw (``reporter="source"``)."""
    queries = policy.queries_for(DUMMY_CONTEXT)
    return any(
        'reporter="source"' in query
        for field, query in queries.items()
        if field not in POD_FIELDS and field != "pod_sampled"
    )


POD_FIELDS = {"pod_errors": ATTEMPT_ERRORS, "pod_total": ATTEMPTS, "pod_slow": SLOW}
"""The per-destination-pod queries (``reporter="destination"``): every attempt, per pod."""


def _fields(source: bool) -> dict[str, int]:
    """The policy's own counter queries: what its reporter counts, per series."""
    return {
        "errors": ERRORS if source else ATTEMPT_ERRORS,
        "total": REQUESTS if source else ATTEMPTS,
        "slow": SLOW,
    }


def _readings(
    policy: RenderedPolicy,
    view: PrometheusView,
    version: str,
    now: float,
    *,
    source: bool,
    asked: dict[tuple[str, str, bool], Reading],
) -> dict[str, Reading]:
    """What the policy's queries would return: counters per series with sample times (per
    caller or per pod, as the view answers the policy's own queries; per destination pod
    for its ``pod*`` queries). ``asked`` holds this tick's counter readings already made:
    the policies share their ``total`` queries, as the batched queries share them."""
    fields = _fields(source)
    readings: dict[str, Reading] = {}
    for field in policy.templates:
        known = asked.get((version, field, source))
        if known is not None:
            readings[field] = known
            continue
        if field == "quantile":
            window = view.window(version, now, QUANTILE_WINDOW, destination=not source)
            value = math.nan if window is None else histogram_quantile(0.99, window.buckets)
            readings[field] = Reading.of(field, value)
        elif field in fields or field in POD_FIELDS:
            values, stamps = (
                view.counters(version, fields[field], now)
                if field in fields
                else view.pod_counters(version, POD_FIELDS[field], now)
            )
            readings[field] = asked[version, field, source] = Reading(
                query=field, series=values, stamps=stamps
            )
    return readings


def _history(
    policy: RenderedPolicy, view: PrometheusView, now: float, *, source: bool
) -> dict[str, dict[str, tuple[tuple[float, float], ...]]]:
    """Stable's look-back for the policy's counters, as the analyzer reads it at the start:
    its per-destination-pod queries where it has them (``rollout.metrics.look_back``)."""
    located = pod_count_fields(policy)
    if located is not None:
        return {field: view.pod_history(POD_FIELDS[field], now) for field in located}
    fields = _fields(source)
    return {
        field: view.history(fields[field], now) for field in policy.templates if field in fields
    }


class Ours:
    """The project's analysis and decision core, driven tick by tick."""

    name = "ours"

    def __init__(self, rollout: Rollout | None = None) -> None:
        self.rollout = rollout or default_rollout()
        by_name = {policy.name: policy for policy in shipped_policies()}
        self.policies = [
            resolve(by_name[ref.name], ref.params) for ref in self.rollout.spec.analysis.policies
        ]
        self.source = [_reporter_is_source(policy) for policy in self.policies]
        self.interval = seconds(self.rollout.spec.analysis.interval)
        self.analysis: AnalysisState | None = None
        self.state = RolloutState(stable_version="v1", spec_hash="bench-v1")
        self.weight = 0
        self.next_tick = 0.0
        self.result: str | None = None
        self.decision_sample: float | None = None
        self.last_verdict: Verdict | None = None

    def tick(self, now: float, view: PrometheusView) -> None:
        self.next_tick = now + self.interval
        first = self.analysis is None
        asked: dict[tuple[str, str, bool], Reading] = {}
        observations = {
            policy.name: PolicyObservation(
                policy.name,
                canary=_readings(policy, view, "canary", now, source=source, asked=asked),
                stable=_readings(policy, view, "stable", now, source=source, asked=asked),
                # the look-back is asked on the baseline tick only, as the analyzer does
                history=_history(policy, view, now, source=source) if first else {},
            )
            for policy, source in zip(self.policies, self.source, strict=True)
        }
        # the stored JSON would round-trip to the same state: keep the object instead, and
        # write the JSON the coordinator stores only when the rollout ends (nothing reads it
        # back in between, and writing it every tick is a tenth of the benchmark's time)
        verdict, analysis = judge(
            self.policies,
            observations,
            self.rollout.spec.analysis,
            self.analysis if self.analysis is not None else self.state.analysis,
            canary_weight=self.state.canary_weight,
        )
        self.analysis = analysis
        decision = decide(
            self.rollout,
            self.state,
            Observations(now=now, spec_hash="bench-v2", canary_ready=True, verdict=verdict),
        )
        self.state = decision.state
        if not self.state.phase.active:
            self.state = self.state.model_copy(update={"analysis": analysis.as_dict()})
        self.last_verdict = verdict
        if decision.weights is not None:
            self.weight = decision.weights.canary_weight
        if self.state.phase is Phase.ROLLED_BACK:
            self.result = ROLLED_BACK
            self.decision_sample = verdict.canary_requests
        elif self.state.phase is Phase.SUCCEEDED and self.state.stable_version == "v2":
            self.result = PROMOTED


SLO_SUCCESS = 0.99
SLO_P99_MS = 300.0
"""The SLOs every controller is given: at most 1% errors, p99 at most 300 ms."""


def _check(view: PrometheusView, now: float, *, destination: bool) -> bool:
    """One interval check as Flagger and Argo run it: success rate and p99 over 1m."""
    window = view.window("canary", now, 60.0, destination=destination)
    if window is None or window.total <= 0:
        return False
    success = 1.0 - window.errors / window.total
    p99 = histogram_quantile(0.99, window.buckets)
    return success >= SLO_SUCCESS and not math.isnan(p99) and p99 <= SLO_P99_MS


def _visible_canary_requests(view: PrometheusView, now: float) -> float:
    return sum(value for value, _ in view.series("canary", ATTEMPTS, now).values())


class Flagger:
    """Flagger's tutorial analysis: interval 1m, threshold 5, stepWeight 10, maxWeight 50.

    Flagger's Istio metrics query ``reporter="destination"``: retried attempts count.
    """

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
        if self.checked(now, view):
            self.advance(now)

    def checked(self, now: float, view: PrometheusView) -> bool:
        """Flagger's interval check: True when the canary passed and may advance."""
        self.next_tick = now + self.interval
        if self.failed_checks >= self.threshold:
            self.result = ROLLED_BACK
            self.decision_sample = _visible_canary_requests(view, now)
            return False
        if not _check(view, now, destination=True):
            self.failed_checks += 1
            return False
        return True

    def advance(self, now: float) -> None:
        if self.weight >= self.max_weight:
            self.result = PROMOTED
            return
        self.weight = min(self.weight + self.step_weight, self.max_weight)


class FlaggerMatched(Flagger):
    """Flagger's rule (1m checks, rollback after 5 failed) on our default steps and times.

    The weights and hold times are those of ``default_steps()`` (1% for 2m, 10% for 1m,
    50% for 1m), so the comparison with ``ours`` is about the rule, not the schedule.
    """

    name = "flagger-matched"

    def __init__(self) -> None:
        super().__init__()
        self.schedule = _weight_schedule(default_rollout())
        self.stage = 0
        self.weight = self.schedule[0][0]
        self.stage_started = 0.0

    def advance(self, now: float) -> None:
        if now - self.stage_started < self.schedule[self.stage][1]:
            return
        if self.stage + 1 >= len(self.schedule):
            self.result = PROMOTED
            return
        self.stage += 1
        self.weight = self.schedule[self.stage][0]
        self.stage_started = now


def _weight_schedule(rollout: Rollout) -> list[tuple[int, float]]:
    """``(weight, seconds held)`` for each ``setWeight`` of a rollout's steps."""
    schedule: list[tuple[int, float]] = []
    for step in rollout.spec.steps:
        if step.set_weight is not None:
            schedule.append((step.set_weight, 0.0))
        elif schedule:
            held = step.analyze.duration if step.analyze else None
            if step.pause is not None:
                held = step.pause.duration
            weight, seconds_held = schedule[-1]
            schedule[-1] = (weight, seconds_held + seconds(held or 0))
    return schedule


class Argo:
    """Argo Rollouts: steps 10..50% with 1m pauses, background analysis, failureLimit 3.

    Argo's Istio example queries ``reporter="source"``: what the caller saw.
    """

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
        measured = now > 0 and view.window("canary", now, 60.0, destination=False) is not None
        if measured and not _check(view, now, destination=False):
            self.failures += 1
            if self.failures > self.failure_limit:
                self.result = ROLLED_BACK
                self.decision_sample = _visible_canary_requests(view, now)
                return
        if now <= 0:
            return
        self.step += 1
        if self.step >= len(self.weights):
            self.result = PROMOTED
            return
        self.weight = self.weights[self.step]
