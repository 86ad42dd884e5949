"""One count policy at one tick: aligned counts in, evidence and updated statistics out.

A count policy (``errors``/``total`` or ``slow``/``total``) runs three sequential tests on
the intervals that ``alignment.py`` closes, each interval tempered by stable's measured
noise (``dispersion.py``):

- **rejection, canary versus stable** (``sequential.comparison_update``): conditional on
  the interval's bad requests, is the canary's share too large?
- **rejection, canary versus the SLO** (``sequential.rate_update``): is the canary's rate
  above ``max``? Intervals in which stable itself clearly breached the SLO (a shared
  incident), or was over it on all its pods together (an incident the interval covers in
  part, on the per-destination-pod series; both in ``incidents.py``), are
  left out: the canary is not blamed for what both versions suffer; the comparison still
  judges those intervals, and they are not counted as stable's everyday noise.
- **acceptance** (``sequential.acceptance_step``): is the canary within the SLO?

Each interval adds at most ``INTERVAL_CAP`` to a rejection log ratio: one clump cannot
convict alone, however large. The two rejection families are mixed into one e-process per
policy (``pods.py``); the policy fails once it reaches the rejection level and no single
canary pod carries the evidence (its leave-one-out e-processes, ``pods.py``, on the
policy's per-destination-pod series where it has them: ``pod_series.py``). Between the
grey zone's start and a failure the data lean worse: no step raises the weight. The
acceptance statistic says whether the evidence shows the canary within its SLO
(``ACCEPT_LOG_LEVEL``): steps that need evidence and promotion wait for it. Pure code.
"""

from __future__ import annotations

import math
from typing import Any

from rollout.analysis import (
    count_summary,
    dispersion,
    history,
    incidents,
    pod_series,
    pods,
    sequential,
)
from rollout.analysis.alignment import Interval, Timeline
from rollout.analysis.observations import CANARY, STABLE, PolicyObservation
from rollout.analysis.running import COUNTED_KEYS, PolicyProgress
from rollout.analysis.verdicts import Evidence, Outcome
from rollout.spec.policy import RenderedPolicy

__all__ = [
    "ACCEPT_LOG_LEVEL",
    "BASELINE_MESSAGE",
    "COMPARISON_MASS",
    "INTERVAL_CAP",
    "CountResult",
    "allowed_rate",
    "count_fields",
    "judge_counts",
]

BASELINE_MESSAGE = "baseline recorded; counting canary requests from here"
"""A canary's first tick: its counters read as the baseline, nothing judged yet."""

COMPARISON_MASS = 0.8
"""Prior mass of the canary-versus-stable test when a policy also has an absolute maximum."""

INTERVAL_CAP = pods.INTERVAL_CAP

ACCEPT_LOG_LEVEL = count_summary.ACCEPT_LOG_LEVEL

GREY_SETTLE_BAD = 3.0
"""The grey zone lasts at least the requests in which a canary at its SLO shows this many
bad requests: enough for a canary well over it to show itself."""

UNEXPECTED_SILENCE = math.log(1000.0)
"""Canary requests expected at its weight past which their absence is a problem: a canary
that gets its share of the requests shows none with probability at most 0.1% here."""


class CountResult:
    """What ``judge_counts`` found: evidence, the state to keep, and the gates' inputs."""

    def __init__(
        self,
        evidence: Evidence,
        progress: PolicyProgress,
        canary_total: float | None,
        accepted: bool,
        leaning_worse: bool = False,
    ) -> None:
        self.evidence = evidence
        self.progress = progress
        self.canary_total = canary_total
        self.accepted = accepted
        self.leaning_worse = leaning_worse


def count_fields(policy: RenderedPolicy) -> tuple[str, str] | None:
    """``(bad field, total field)`` of a count policy, or None."""
    bad = "errors" if policy.type == "ratio" else "slow"
    if bad in policy.templates and "total" in policy.templates:
        return bad, "total"
    return None


def allowed_rate(policy: RenderedPolicy) -> float | None:
    name = "max" if policy.type == "ratio" else "max_slow_ratio"
    return policy.thresholds.get(name)


def _setting(
    interval: Interval,
    spread: dispersion.Spread,
    tempering: float,
    allowed: float | None,
    compare: bool,
    incident: bool,
) -> pods.Setting:
    """What one interval's rejection tests need besides the canary's counts."""
    return pods.Setting(
        stable=interval.stable,
        seconds=interval.seconds,
        noise=max(spread.relative_variance, tempering),
        rate=spread.rate,
        allowed=allowed,
        compare=compare,
        incident=incident,
    )


def judge_counts(
    policy: RenderedPolicy,
    observation: PolicyObservation | None,
    previous: PolicyProgress,
    *,
    fields: tuple[str, str],
    compare: bool,
    log_threshold: float,
    tick: int,
    no_data_fails: bool,
    canary_weight: float | None = None,
) -> CountResult:
    bad_field = fields[0]
    versions = (CANARY, STABLE) if compare else (CANARY,)
    readings, problems = pod_series.counter_readings(observation, versions, fields, tick)
    # where the bad requests were served: per destination pod if the policy says (pod_series)
    located = pod_series.pod_count_fields(policy)
    baseline = previous.timeline.cut is None
    timeline, interval = previous.timeline.advance(readings)
    counted = {key: previous.count(key) for key in COUNTED_KEYS}
    spread = previous.spread
    allowed = allowed_rate(policy)
    looked_back = previous.history
    if baseline and compare and observation is not None and observation.history:
        history_of_pods = located is not None and located[1] in observation.history
        bad_seen, total_seen = located if located and history_of_pods else fields
        looked_back, everyday = history.summarise(
            observation.history.get(bad_seen, {}),
            observation.history.get(total_seen, {}),
            allowed=allowed,
        )
        spread = spread.add(everyday)
    pooled = (
        pods.Rejection(previous.comparison, previous.absolute)
        if previous.comparison and previous.absolute
        else pods.Rejection.fresh()
    )
    pooled_before = pooled
    pod_timeline, where = previous.pod_timeline, None
    if located is not None:
        # the per-pod series' own intervals, cut on their own sample times
        located_readings, _ = pod_series.counter_readings(observation, versions, located, tick)
        pod_timeline, where = pod_timeline.advance(located_readings)
    by_destination = pod_series.seen(pod_timeline)
    # the first per-pod canary series replace the pooled series' pods in the check
    switched = by_destination and not pod_series.seen(previous.pod_timeline)
    pod_statistics = {} if switched else previous.pods
    acceptance = previous.acceptance
    held = previous.held
    if interval is not None:
        for key, value in _as_counts(interval).items():
            counted[key] += value
        counted["canary_expected"] += _expected_canary(interval, canary_weight)
        incident = incidents.shared_incident(interval, spread, allowed, compare)
        shared = incident or incidents.elevated_together(interval, where, allowed, compare)
        counted["shared_incidents"] += shared
        if not shared:
            # an incident, or the part of one an interval covers (stable over the SLO on
            # all its pods), is set apart: not everyday noise, nor the canary's fault
            spread = spread.add(interval.stable_cells)
        noise, rate = spread.relative_variance, spread.rate
        setting = _setting(interval, spread, looked_back.tempering, allowed, compare, shared)
        pooled = pods.rejection_step(pooled, interval.canary, setting)
        if not by_destination:
            pod_statistics = pods.leave_one_out(
                pod_statistics, pooled_before, interval.canary_cells, setting
            )
        if held is not None:
            held = held.step(
                interval.canary,
                setting,
                start=(timeline.cut or 0.0) - interval.seconds,
                correlation=dispersion.CORRELATION_SECONDS,
                log_threshold=log_threshold,
            )
        if allowed is not None and not incident and interval.canary[1] > 0:
            own = dispersion.rate_dispersion(
                variance=noise, rate=rate, total=interval.canary[1], seconds=interval.seconds
            )
            acceptance += sequential.acceptance_step(
                interval.canary[0], interval.canary[1], allowed=allowed, dispersion=own
            )

    if by_destination and where is not None:
        incident = incidents.shared_incident(where, spread, allowed, compare)
        pod_statistics = pods.leave_one_out(
            pod_statistics,
            pooled_before,
            where.canary_cells,
            _setting(where, spread, looked_back.tempering, allowed, compare, incident),
        )
    # the pods during the rollout, stable's and the canary's, read as the check across pods
    # reads them (their own series, or the pooled ones): a burst on one pod of either
    # version ends a quiet look-back (a version's regression shows on all its pods alike)
    seen_pods = where if by_destination else interval
    if compare and seen_pods is not None:
        canary_cells = [(bad, total) for _, bad, total in seen_pods.canary_cells]
        looked_back = looked_back.seen(seen_pods.stable_cells).seen(canary_cells)

    tested = compare or allowed is not None
    log_evidence = pooled.log_evidence(compare=compare, allowed=allowed, mass=COMPARISON_MASS)
    peak = max(previous.peak_log_evidence, log_evidence)
    over = log_evidence >= log_threshold
    since_hold = (
        held.statistics.log_evidence(compare=compare, allowed=allowed, mass=COMPARISON_MASS)
        if held is not None
        else -math.inf
    )
    rejected = (
        previous.rejected
        or since_hold >= log_threshold
        or (
            over
            and pods.corroborated(
                pod_statistics,
                log_threshold=log_threshold,
                share=pods.QUIET_CORROBORATION if looked_back.quiet else pods.CORROBORATION,
                compare=compare,
                allowed=allowed,
                mass=COMPARISON_MASS,
            )
        )
    )
    if over and held is None and not rejected:
        # held on one pod's evidence: what comes a minute from now is judged afresh (pods.py)
        held = pods.Hold(since=timeline.cut or 0.0)
    grey_entered = _grey_entered(previous, log_evidence, log_threshold, counted["canary_total"])
    settled = grey_entered < 0 or counted["canary_total"] >= grey_entered + max(
        grey_entered, GREY_SETTLE_BAD / allowed if allowed else 0.0
    )
    accepted = settled and (allowed is None or acceptance >= ACCEPT_LOG_LEVEL)
    progress = PolicyProgress(
        timeline=timeline,
        counted=counted,
        spread=spread,
        comparison=pooled.comparison,
        absolute=pooled.absolute,
        acceptance=acceptance,
        peak_log_evidence=peak,
        rejected=rejected,
        grey_entered=grey_entered,
        pods=pod_statistics,
        history=looked_back,
        held=held,
        pod_timeline=pod_timeline,
    )
    canary_seen = f"{CANARY}.total" in timeline.tracks
    canary_total = counted["canary_total"] if canary_seen else None
    canary_bad, stable_bad = counted["canary_bad"], counted["stable_bad"]
    stable_total = counted["stable_total"]
    bad_reading = observation.reading(CANARY, bad_field) if observation else None
    common: dict[str, Any] = {
        "policy": policy.name,
        "check": "errors" if bad_field == "errors" else "slow-requests",
        "query": bad_reading.query if bad_reading is not None else None,
        "value": canary_bad / canary_total if canary_total else None,
        "threshold": allowed,
        "sample_size": canary_total,
        "statistic": log_evidence if tested and math.isfinite(log_evidence) else None,
        "p_value": min(1.0, math.exp(-peak)) if tested else None,
        "stable_value": stable_bad / stable_total if compare and stable_total else None,
    }
    summary = count_summary.summary(
        bad_field,
        canary=(canary_bad, canary_total or 0.0),
        stable=(stable_bad, stable_total) if compare else None,
        allowed=allowed,
        log_evidence=log_evidence,
        log_threshold=log_threshold,
        tested=tested,
        acceptance=acceptance if allowed is not None else None,
        shared_incidents=counted["shared_incidents"],
    )
    if not settled and not rejected:
        summary += "; leaning worse than stable: waits for more requests"
    if rejected:
        outcome, message = Outcome.FAIL, f"canary worse: {summary}"
    elif CANARY in problems:
        outcome, message = Outcome.INCONCLUSIVE, f"canary {problems[CANARY]}"
    elif baseline:
        outcome, message = Outcome.PASS, BASELINE_MESSAGE
    elif not canary_total and not _pending(timeline) and _silence_expected(counted, canary_weight):
        outcome, message = (
            Outcome.PASS,
            (
                f"no canary requests yet, {counted['canary_expected']:.1f} expected at "
                f"{canary_weight:g}% of this traffic; {summary}"
            ),
        )
    elif not canary_total and not _pending(timeline):
        outcome = Outcome.FAIL if no_data_fails else Outcome.INCONCLUSIVE
        message = "no canary requests yet" + (" (noData: fail)" if no_data_fails else "")
    elif STABLE in problems:
        outcome, message = Outcome.INCONCLUSIVE, f"stable {problems[STABLE]}; {summary}"
    else:
        outcome, message = Outcome.PASS, summary
    evidence = Evidence(outcome=outcome, message=message, **common)
    return CountResult(evidence, progress, canary_total, accepted, not settled and not rejected)


def _grey_entered(
    previous: PolicyProgress, log_evidence: float, log_threshold: float, canary_total: float
) -> float:
    """The canary requests counted when the evidence entered the grey zone, or -1.

    Between half the rejection level and the level (or above it, while one pod carries the
    evidence: ``pods.py``), the data lean towards "worse than stable" without proving it:
    the canary is not called within its SLOs there, and no step raises its weight, until
    it has served as many requests again as it had on entering, and at least ``1/max`` more
    (the requests in which a canary at its SLO shows one bad request). A canary that is
    worse gets convicted on the extra data; one that is not cannot be held forever by an
    early unlucky count.
    """
    if log_evidence <= log_threshold / 2:
        return -1.0
    return previous.grey_entered if previous.grey_entered >= 0 else max(canary_total, 1.0)


def _as_counts(interval: Interval) -> dict[str, float]:
    return {
        "canary_bad": interval.canary[0],
        "canary_total": interval.canary[1],
        "stable_bad": interval.stable[0],
        "stable_total": interval.stable[1],
    }


def _expected_canary(interval: Interval, weight: float | None) -> float:
    """The canary requests its weight predicts from stable's requests in ``interval``."""
    if weight is None or not 0.0 < weight < 100.0:
        return 0.0
    return interval.stable[1] * weight / (100.0 - weight)


def _silence_expected(counted: dict[str, float], weight: float | None) -> bool:
    """Whether a canary without a request yet is simply too small a share of too little
    traffic (a weight between 0 and 100, fewer than ``UNEXPECTED_SILENCE`` requests
    predicted): nothing is wrong, there is nothing to judge yet. At 0% (header routes, a
    mirror) the weight predicts nothing about the canary's requests, and its silence is
    inconclusive as before."""
    return (
        weight is not None
        and 0.0 < weight < 100.0
        and counted["canary_expected"] < UNEXPECTED_SILENCE
    )


def _pending(timeline: Timeline) -> bool:
    """Whether the canary's counters show requests not yet in a closed interval."""
    tracks = timeline.tracks.get(f"{CANARY}.total", {})
    return any(track.last[1] > track.at_cut for track in tracks.values())
