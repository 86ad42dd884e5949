"""One tick of analysis: every policy's observations in, one verdict with its evidence out.

This is the function the coordinator calls (``judge``), with the state it stored at the
previous tick; it returns the verdict for the decision core and the state to store. Pure:
no I/O, no clock.

Per policy:

- **count policies** (``ratio``: ``errors``/``total``; ``latency``: ``slow``/``total``)
  count both versions over the same aligned intervals (``alignment.py``) and run the
  tests of ``count_check.py``: a rejection e-process mixing the canary-versus-stable test
  with the test of the canary's rate against the policy's maximum (``max`` or
  ``maxSlowRatio``), tempered by stable's measured noise, and an acceptance test of "the
  canary is within its SLO". The policy fails once the rejection e-process reaches
  ``K / significance`` for ``K`` count policies; a failure is final for the rollout;
- **quantiles** and **values** are compared with their absolute bounds (``thresholds.py``).

Outcomes: FAIL when any check fails; INCONCLUSIVE when none fails but one could not be
judged (no data, NaN, Prometheus unreachable, no canary request yet since the baseline
although its weight predicted several from stable's requests); PASS otherwise (a canary
with no request yet where its weight predicts hardly any is not judged, and not shown
within its SLOs either). ``within_slo`` says the evidence *shows* the canary within every SLO that
has a maximum (PASS and every acceptance test passed), not merely that it was not yet shown
worse: steps that raise the weight on evidence wait for it; ``leaning_worse`` that a
rejection test is in its grey zone, and no step raises the weight then. ``promotable`` needs
``within_slo`` and at least ``minSampleSize`` canary requests counted by the count policies.

The first call (empty state) records the baselines and passes without judging, so a
rollout at weight 0 is never held for lack of canary traffic.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

from rollout.analysis import thresholds
from rollout.analysis.count_check import count_fields, judge_counts
from rollout.analysis.observations import (
    CANARY,
    PolicyObservation,
    ReadingProblem,
)
from rollout.analysis.running import AnalysisState, PolicyProgress
from rollout.analysis.verdicts import Evidence, Outcome, Verdict
from rollout.spec.policy import RenderedPolicy
from rollout.spec.rollout import Analysis, NoDataMeaning

__all__ = ["judge", "rejection_log_threshold"]


def rejection_log_threshold(policies: Sequence[RenderedPolicy], significance: float) -> float:
    """``log(K / alpha)``: alpha is split equally over the ``K`` count policies."""
    tested = sum(1 for policy in policies if count_fields(policy) is not None)
    return math.log(max(tested, 1) / significance)


def judge(
    policies: Sequence[RenderedPolicy],
    observations: Mapping[str, PolicyObservation],
    settings: Analysis,
    state: AnalysisState | Mapping[str, Any] | None = None,
    *,
    canary_weight: float | None = None,
) -> tuple[Verdict, AnalysisState]:
    """Judge one tick. ``state`` is what the previous call returned (or its ``as_dict()``);
    ``canary_weight`` the canary's share of traffic now (percent), which says how many
    canary requests stable's predict (without it, no canary request is inconclusive)."""
    current = state if isinstance(state, AnalysisState) else AnalysisState.from_dict(state)
    baseline = current.fresh
    no_data_fails = settings.no_data is NoDataMeaning.FAIL
    log_threshold = rejection_log_threshold(policies, settings.significance)
    evidence: list[Evidence] = []
    progress: dict[str, PolicyProgress] = {}
    canary_totals: list[float] = []
    within_slo = True
    leaning_worse = False
    for policy in policies:
        fields = count_fields(policy)
        if fields is None:
            continue
        result = judge_counts(
            policy,
            observations.get(policy.name),
            current.policies.get(policy.name, PolicyProgress()),
            fields=fields,
            compare=settings.compare_with_stable and policy.compare,
            log_threshold=log_threshold,
            tick=current.ticks,
            no_data_fails=no_data_fails,
            canary_weight=canary_weight,
        )
        evidence.append(result.evidence)
        progress[policy.name] = result.progress
        within_slo = within_slo and result.accepted
        leaning_worse = leaning_worse or result.leaning_worse
        if result.canary_total is not None:
            canary_totals.append(result.canary_total)
    canary_requests = min(canary_totals) if canary_totals else None
    for policy in policies:
        for item in _judge_single_values(
            policy, observations.get(policy.name), canary_requests, settings
        ):
            if baseline and _canary_silent(policy, observations.get(policy.name)):
                # weight 0 at the baseline tick: the canary has nothing to measure yet
                item = dataclasses.replace(
                    item, outcome=Outcome.PASS, message=f"baseline tick, not judged: {item.message}"
                )
            evidence.append(item)
    outcome = _combine(evidence)
    requests = canary_requests or 0.0
    enough = (
        requests >= settings.min_sample_size if canary_totals else settings.min_sample_size == 0
    )
    shown = outcome is Outcome.PASS and within_slo and not baseline
    verdict = Verdict(
        outcome=outcome,
        evidence=tuple(evidence),
        canary_requests=requests,
        promotable=shown and enough,
        within_slo=shown,
        leaning_worse=leaning_worse and not baseline,
    )
    return verdict, AnalysisState(ticks=current.ticks + 1, policies=progress)


def _canary_silent(policy: RenderedPolicy, observation: PolicyObservation | None) -> bool:
    """Whether the canary's single value is missing for lack of data (not for an error)."""
    field = "quantile" if policy.type == "latency" else "query"
    reading = observation.reading(CANARY, field) if observation else None
    problem = reading.single_problem() if reading is not None else None
    return problem is not None and problem[0] in (
        ReadingProblem.NO_DATA,
        ReadingProblem.NOT_A_NUMBER,
    )


def _combine(evidence: Sequence[Evidence]) -> Outcome:
    outcomes = {item.outcome for item in evidence}
    if Outcome.FAIL in outcomes:
        return Outcome.FAIL
    if Outcome.INCONCLUSIVE in outcomes:
        return Outcome.INCONCLUSIVE
    return Outcome.PASS


def _judge_single_values(
    policy: RenderedPolicy,
    observation: PolicyObservation | None,
    canary_requests: float | None,
    settings: Analysis,
) -> list[Evidence]:
    no_data_fails = settings.no_data is NoDataMeaning.FAIL
    canary = observation.canary if observation else {}
    stable = observation.stable if observation else {}
    if policy.type == "latency" and "quantile" in policy.templates:
        return [
            thresholds.check_quantile(
                policy=policy.name,
                canary=canary.get("quantile"),
                stable=stable.get("quantile"),
                max_ms=policy.thresholds["max_ms"],
                canary_requests=canary_requests,
                min_requests=thresholds.quantile_min_requests(policy.params),
                no_data_fails=no_data_fails,
            )
        ]
    if policy.type == "value":
        return thresholds.check_value(
            policy=policy.name,
            canary=canary.get("query"),
            stable=stable.get("query"),
            minimum=policy.thresholds.get("min"),
            maximum=policy.thresholds.get("max"),
            no_data_fails=no_data_fails,
        )
    return []
