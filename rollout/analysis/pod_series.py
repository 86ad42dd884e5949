"""Where the evidence sits: the series the check across pods and the look-back read.

The check across the canary's pods (``pods.py``) and stable's look-back (``history.py``)
ask *where* the bad requests were served: on one pod (a burst, a bad node) or on every pod
(the version). They read a count policy's series one per pod, and what a series is
depends on the query. Under Istio's ``reporter="source"`` (what the shipped policies count,
so that a retried request counts once) Prometheus scrapes the *callers'* sidecars: a
series is one calling pod, and it mixes every canary pod's requests, so a burst on one
canary pod shows in every caller's series alike and the check cannot see it.

A count policy may therefore name a second pair of queries, ``podErrors`` (``podSlow``)
and ``podTotal`` with their ``podSampled`` times, one series per *destination* pod
(``reporter="destination"``: the canary's and stable's own sidecars). When it does:

- the leave-one-out e-processes are updated on those series, over intervals of their own
  (their own ``Timeline``, cut on their own sample times): a pod's evidence is never
  paired with another series' seconds;
- the look-back reads those queries for stable's pods.

The pooled tests (the rejection e-process, the SLO term, the acceptance statistic, the
hold) keep the caller-seen counts and their own intervals, so their anytime validity is
untouched: the per-pod series only add a condition to a rejection (``pods.corroborated``),
and a condition can only lower its false-alarm probability. The destination reporter
counts every attempt (a request retried twice is three), which is fine for telling *where*
the bad requests were served, but clumps them: the leave-one-out evidence on attempts can
read larger than on requests, which makes the check across pods easier to meet, not the
pooled test easier to reach.

Without these queries, or while they have shown no canary series (the destination
metrics are not scraped), the check across pods reads the pooled series, as before; the
first per-pod canary series replace them for the rest of the rollout. Pure code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rollout.analysis.alignment import Timeline
from rollout.analysis.observations import CANARY, PolicyObservation, Reading
from rollout.spec.policy import POD_FIELDS, RenderedPolicy

__all__ = ["CounterReadings", "counter_readings", "pod_count_fields", "seen"]

CounterReadings = dict[str, tuple[Mapping[str, float], Mapping[str, float]]]
"""``{version.bad|version.total: (series, stamps)}``, as ``Timeline.advance`` takes them."""


def pod_count_fields(policy: RenderedPolicy) -> tuple[str, str] | None:
    """``(bad field, total field)`` of a count policy's per-destination-pod queries, or
    None when it has none (the check across pods then reads its pooled series)."""
    if policy.type not in POD_FIELDS:
        return None
    bad, total, _ = POD_FIELDS[policy.type]
    if bad in policy.templates and total in policy.templates:
        return bad, total
    return None


def seen(timeline: Timeline) -> bool:
    """Whether the per-pod series have shown a canary series: from then on the check
    across pods reads them."""
    return bool(timeline.tracks.get(f"{CANARY}.total"))


def _usable(reading: Reading | None) -> Reading | None:
    return reading if reading is not None and reading.problem is None else None


def counter_readings(
    observation: PolicyObservation | None,
    versions: Sequence[str],
    fields: tuple[str, str],
    tick: int,
) -> tuple[CounterReadings, dict[str, str]]:
    """One pair of counter fields' readings for a timeline, and per version the problem
    that kept its readings out (a failed total, or a failed bad count)."""
    bad_field, total_field = fields
    problems: dict[str, str] = {}
    readings: CounterReadings = {}
    for version in versions:
        bad = observation.reading(version, bad_field) if observation else None
        total = observation.reading(version, total_field) if observation else None
        if _usable(total) is None:
            detail = total.detail if total is not None else "not observed this tick"
            problems[version] = f"{total_field}: {detail}"
            continue
        if _usable(bad) is None and bad is not None:
            problems[version] = f"{bad_field}: {bad.detail}"
            continue
        for kind, reading in (("bad", bad), ("total", total)):
            if reading is not None:
                readings[f"{version}.{kind}"] = (reading.series, _stamps(reading, tick))
    return readings, problems


def _stamps(reading: Reading, tick: int) -> Mapping[str, float]:
    """The sample time of every series; the tick number where Prometheus gave none."""
    if reading.stamps and reading.stamps.keys() >= reading.series.keys():
        return reading.stamps
    return dict.fromkeys(reading.series, float(tick))
