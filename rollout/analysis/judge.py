"""One tick of analysis: every policy's observations in, one verdict with its evidence out.

This is the function the coordinator calls (``judge``), with the state it stored at the
previous tick; it returns the verdict for the decision core and the state to store. Pure:
no I/O, no clock.

Per policy:

- **count policies** (``ratio``: ``errors``/``total``; ``latency``: ``slow``/``total``)
  accumulate the canary's and stable's counters (``counts.py``) and run one anytime-valid
  e-process (``sequential.py``) mixing the canary-versus-stable test with the test of the
  canary's rate against the policy's absolute maximum (``max`` or ``maxSlowRatio``). The
  policy fails once the e-process reaches ``K / significance`` for ``K`` count policies;
  a failure is final for the rollout (the state remembers it);
- **quantiles** and **values** are compared with their absolute bounds (``thresholds.py``).

Outcomes: FAIL when any check fails; INCONCLUSIVE when none fails but one could not be
judged (no data, NaN, Prometheus unreachable, no canary request yet since the baseline);
PASS otherwise. ``promotable`` needs PASS, at least ``minSampleSize`` canary requests
counted by the count policies, and every count policy's evidence at most 1 (the data do not
lean towards "the canary is worse"): in the grey zone between 1 and the rejection level the
rollout keeps analysing instead of promoting, which is always allowed with an anytime-valid
test and stops mildly worse canaries that the steps' minutes did not yet convict.

The first call (empty state) records the baselines and passes without judging, so a
rollout at weight 0 is never held for lack of canary traffic.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

from rollout.analysis import sequential, thresholds
from rollout.analysis.counts import CounterTrack
from rollout.analysis.observations import (
    CANARY,
    STABLE,
    PolicyObservation,
    Reading,
    ReadingProblem,
)
from rollout.analysis.running import PENDING_KEYS, AnalysisState, PolicyProgress
from rollout.analysis.verdicts import Evidence, Outcome, Verdict
from rollout.spec.policy import RenderedPolicy
from rollout.spec.rollout import Analysis, NoDataMeaning

__all__ = ["COMPARISON_MASS", "judge", "rejection_log_threshold"]

COMPARISON_MASS = 0.8
"""Prior mass of the canary-versus-stable test when a policy also has an absolute maximum.

Comparing with stable is the sharper test when stable is healthy (it knows the baseline
rate), so it gets most of the mass; the absolute test keeps a share so a canary is still
stopped when stable itself is noisy or quiet.
"""


def count_fields(policy: RenderedPolicy) -> tuple[str, str] | None:
    """``(bad field, total field)`` of a count policy, or None."""
    bad = "errors" if policy.type == "ratio" else "slow"
    if bad in policy.templates and "total" in policy.templates:
        return bad, "total"
    return None


def allowed_rate(policy: RenderedPolicy) -> float | None:
    name = "max" if policy.type == "ratio" else "max_slow_ratio"
    return policy.thresholds.get(name)


def rejection_log_threshold(policies: Sequence[RenderedPolicy], significance: float) -> float:
    """``log(K / alpha)``: alpha is split equally over the ``K`` count policies."""
    tested = sum(1 for policy in policies if count_fields(policy) is not None)
    return math.log(max(tested, 1) / significance)


def judge(
    policies: Sequence[RenderedPolicy],
    observations: Mapping[str, PolicyObservation],
    settings: Analysis,
    state: AnalysisState | Mapping[str, Any] | None = None,
) -> tuple[Verdict, AnalysisState]:
    """Judge one tick. ``state`` is what the previous call returned (or its ``as_dict()``)."""
    current = state if isinstance(state, AnalysisState) else AnalysisState.from_dict(state)
    baseline = current.fresh
    no_data_fails = settings.no_data is NoDataMeaning.FAIL
    log_threshold = rejection_log_threshold(policies, settings.significance)
    evidence: list[Evidence] = []
    progress: dict[str, PolicyProgress] = {}
    canary_totals: list[float] = []
    evidence_clear = True
    for policy in policies:
        fields = count_fields(policy)
        if fields is None:
            continue
        previous = current.policies.get(policy.name, PolicyProgress())
        item, updated, canary_total = _judge_counts(
            policy,
            observations.get(policy.name),
            previous,
            fields=fields,
            compare=settings.compare_with_stable and policy.compare,
            log_threshold=log_threshold,
            baseline=f"{CANARY}.total" not in previous.counters,
            no_data_fails=no_data_fails,
        )
        evidence.append(item)
        progress[policy.name] = updated
        evidence_clear = evidence_clear and (item.statistic is None or item.statistic <= 0.0)
        if canary_total is not None:
            canary_totals.append(canary_total)
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
    verdict = Verdict(
        outcome=outcome,
        evidence=tuple(evidence),
        canary_requests=requests,
        promotable=outcome is Outcome.PASS and enough and evidence_clear and not baseline,
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


def _usable(reading: Reading | None) -> Mapping[str, float] | None:
    """The series of a counter reading, or None when the query failed (empty is usable)."""
    if reading is None or reading.problem is not None:
        return None
    return reading.series


def _judge_counts(
    policy: RenderedPolicy,
    observation: PolicyObservation | None,
    previous: PolicyProgress,
    *,
    fields: tuple[str, str],
    compare: bool,
    log_threshold: float,
    baseline: bool,
    no_data_fails: bool,
) -> tuple[Evidence, PolicyProgress, float | None]:
    bad_field, total_field = fields
    check = "errors" if bad_field == "errors" else "slow-requests"
    versions = (CANARY, STABLE) if compare else (CANARY,)
    counters = dict(previous.counters)
    increases: dict[str, float] = {}
    problems: dict[str, str] = {}
    for version in versions:
        bad = observation.reading(version, bad_field) if observation else None
        total = observation.reading(version, total_field) if observation else None
        total_series = _usable(total)
        bad_series = _usable(bad)
        if total_series is not None and bad_series is None and bad is not None:
            problems[version] = f"{bad_field}: {bad.detail}"
        elif total_series is None:
            detail = total.detail if total is not None else "not observed this tick"
            problems[version] = f"{total_field}: {detail}"
        if version in problems:
            continue
        for kind, series in (("bad", bad_series or {}), ("total", total_series or {})):
            name = f"{version}.{kind}"
            track = counters.get(name)
            if track is None:
                counters[name] = CounterTrack.baseline(series)
                increases[f"{version}_{kind}"] = 0.0
            else:
                counters[name], increases[f"{version}_{kind}"] = track.advance(series)

    pending = {
        key: previous.pending.get(key, 0.0) + increases.get(key, 0.0) for key in PENDING_KEYS
    }
    comparison = list(previous.comparison)
    if len(comparison) != len(sequential.COMPARISON_GRID):
        comparison = [0.0] * len(sequential.COMPARISON_GRID)
    if compare and pending["canary_total"] > 0 and pending["stable_total"] > 0:
        comparison = sequential.comparison_update(
            comparison,
            canary_bad=pending["canary_bad"],
            canary_total=pending["canary_total"],
            stable_bad=pending["stable_bad"],
            stable_total=pending["stable_total"],
        )
        pending = dict.fromkeys(PENDING_KEYS, 0.0)

    canary_bad = counters[f"{CANARY}.bad"].total if f"{CANARY}.bad" in counters else 0.0
    canary_total = counters[f"{CANARY}.total"].total if f"{CANARY}.total" in counters else None
    stable_bad = counters.get(f"{STABLE}.bad", CounterTrack(last={})).total
    stable_total = counters.get(f"{STABLE}.total", CounterTrack(last={})).total
    allowed = allowed_rate(policy)

    log_ratios: list[float] = []
    weights: list[float] = []
    comparison_mass = (COMPARISON_MASS if allowed is not None else 1.0) if compare else 0.0
    if compare:
        log_ratios += comparison
        weights += [w * comparison_mass for _, w in sequential.COMPARISON_GRID]
    if allowed is not None and canary_total is not None:
        log_ratios += sequential.rate_log_likelihood_ratios(
            canary_bad, canary_total, allowed=allowed
        )
        weights += [w * (1.0 - comparison_mass) for _, w in sequential.RATE_GRID]
    log_evidence = sequential.log_mixture(log_ratios, weights) if weights else 0.0
    peak = max(previous.peak_log_evidence, log_evidence)
    rejected = previous.rejected or log_evidence >= log_threshold

    updated = PolicyProgress(
        counters=counters,
        pending=pending,
        comparison=tuple(comparison),
        peak_log_evidence=peak,
        rejected=rejected,
    )
    canary_ratio = canary_bad / canary_total if canary_total else None
    bad_reading = observation.reading(CANARY, bad_field) if observation else None
    common: dict[str, Any] = {
        "policy": policy.name,
        "check": check,
        "query": bad_reading.query if bad_reading is not None else None,
        "value": canary_ratio,
        "threshold": allowed,
        "sample_size": canary_total,
        "statistic": log_evidence if weights and math.isfinite(log_evidence) else None,
        "p_value": min(1.0, math.exp(-peak)) if weights else None,
        "stable_value": stable_bad / stable_total if compare and stable_total else None,
    }
    summary = _summary(
        bad_field,
        canary=(canary_bad, canary_total or 0.0),
        stable=(stable_bad, stable_total) if compare else None,
        allowed=allowed,
        log_evidence=log_evidence,
        log_threshold=log_threshold,
        tested=bool(weights),
    )
    if rejected:
        outcome, message = Outcome.FAIL, f"canary worse: {summary}"
    elif CANARY in problems:
        outcome, message = Outcome.INCONCLUSIVE, f"canary {problems[CANARY]}"
    elif baseline:
        outcome, message = Outcome.PASS, "baseline recorded; counting canary requests from here"
    elif not canary_total:
        outcome = Outcome.FAIL if no_data_fails else Outcome.INCONCLUSIVE
        message = "no canary requests yet" + (" (noData: fail)" if no_data_fails else "")
    elif STABLE in problems:
        outcome, message = Outcome.INCONCLUSIVE, f"stable {problems[STABLE]}; {summary}"
    else:
        outcome, message = Outcome.PASS, summary
    evidence = Evidence(outcome=outcome, message=message, **common)
    return evidence, updated, canary_total


def _summary(
    bad_field: str,
    *,
    canary: tuple[float, float],
    stable: tuple[float, float] | None,
    allowed: float | None,
    log_evidence: float,
    log_threshold: float,
    tested: bool,
) -> str:
    noun = "errors" if bad_field == "errors" else "slow"

    def part(counts: tuple[float, float]) -> str:
        bad, total = counts
        ratio = f" ({bad / total:.2%})" if total else ""
        return f"{bad:.0f} {noun} in {total:.0f} requests{ratio}"

    text = f"canary {part(canary)}"
    if stable is not None:
        text += f" vs stable {part(stable)}"
    if allowed is not None:
        text += f", SLO max {allowed:.2%}"
    if tested:
        evidence = math.exp(min(log_evidence, 700.0)) if math.isfinite(log_evidence) else 0.0
        relation = "≥" if log_evidence >= log_threshold else "<"
        text += f"; evidence {evidence:.3g} {relation} {math.exp(log_threshold):.3g}"
        if 0.0 < log_evidence < log_threshold:
            text += " (above 1: promotion waits for more data)"
    return text


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
