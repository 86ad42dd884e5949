"""Stable's look-back: how far its pods' minutes stray from one another's.

Inputs are simulated cumulative counters per pod at one-minute steps (independent
requests, a bursting pod, a shared incident, a thin history, a counter reset); outputs
are the pod-level relative variance, its standard error, whether the history is quiet,
and the everyday pod-minutes that seed stable's spread; then stable's pods during the
rollout (an interval's cells), where a burst on one ends the quiet.
"""

from __future__ import annotations

import json
import math

import numpy as np

from rollout.analysis import history

PODS = 6
MINUTES = 60


def _counters(
    rng: np.random.Generator, *, rate: float = 0.001, requests: float = 1000.0
) -> tuple[np.ndarray, np.ndarray]:
    """Per-minute ``(bad, total)`` increases, shape ``(MINUTES, PODS)``."""
    total = rng.poisson(requests, size=(MINUTES, PODS)).astype(float)
    bad = rng.binomial(total.astype(int), rate).astype(float)
    return bad, total


def _samples(increases: np.ndarray) -> dict[str, list[tuple[float, float]]]:
    cumulative = np.vstack([np.zeros(PODS), np.cumsum(increases, axis=0)])
    return {
        f"pod=stable-{pod}": [(60.0 * step, float(v)) for step, v in enumerate(cumulative[:, pod])]
        for pod in range(PODS)
    }


def _summary(bad: np.ndarray, total: np.ndarray) -> history.History:
    return history.summarise(_samples(bad), _samples(total), allowed=0.01)[0]


def test_independent_requests_make_a_quiet_history() -> None:
    quiet = 0
    for seed in range(50):
        summary = _summary(*_counters(np.random.default_rng(seed)))
        assert summary.pod_minutes == PODS * MINUTES
        quiet += summary.quiet
    assert quiet >= 48


def test_one_burst_on_one_pod_is_enough_to_be_seen() -> None:
    bad, total = _counters(np.random.default_rng(1))
    bad[20, 3] += 30  # twenty seconds at 10% errors on one pod
    summary = _summary(bad, total)
    assert not summary.quiet
    assert summary.pod_variance > 1.0
    assert summary.tempering == summary.pod_variance


def test_noise_every_pod_shares_is_not_pod_noise() -> None:
    bad, total = _counters(np.random.default_rng(2))
    bad[10] += 8  # a dependency failing for a few seconds, on every pod alike
    summary = _summary(bad, total)
    assert summary.quiet, summary


def test_an_incident_stable_suffered_as_a_whole_is_set_apart() -> None:
    bad, total = _counters(np.random.default_rng(3))
    bad[30] += 200
    summary, everyday = history.summarise(_samples(bad), _samples(total), allowed=0.01)
    assert summary.pod_minutes == PODS * (MINUTES - 1)
    assert len(everyday) == PODS * (MINUTES - 1)
    assert summary.incidents == 1
    assert not summary.quiet


def test_a_thin_history_is_not_quiet() -> None:
    summary = _summary(*_counters(np.random.default_rng(4), requests=10.0))
    assert summary.pod_minutes > 0
    assert not summary.quiet
    assert not history.History().quiet
    assert history.History().tempering == 0.0


def test_a_counter_reset_counts_what_came_after_it() -> None:
    samples = [(0.0, 100.0), (60.0, 150.0), (120.0, 20.0), (180.0, 70.0)]
    bad = {"pod=a": [(t, 0.0) for t, _ in samples], "pod=b": [(t, 0.0) for t, _ in samples]}
    steps = history.pod_minutes(bad, {"pod=a": samples, "pod=b": samples})
    assert [cells[0] for _, cells in sorted(steps.items())] == [
        (0.0, 50.0),
        (0.0, 20.0),
        (0.0, 50.0),
    ]


def test_the_summary_round_trips_through_a_plain_list() -> None:
    summary = history.History(2.5, 0.1, 300, 2, 3)
    assert history.History.from_list(summary.as_list()) == summary
    assert history.History.from_list([0.1, 0.05, 300, 1]) == history.History(0.1, 0.05, 300, 1)
    assert history.History.from_list([0.1, 0.05, 300]) == history.History(0.1, 0.05, 300)
    assert history.History.from_list([1.0]) == history.History()
    # no variance measured: an infinite error, stored as a finite number, read back as it was
    unmeasured = history.History(0.0, math.inf, 356)
    stored = json.loads(json.dumps(unmeasured.as_list()))
    assert history.History.from_list(stored) == unmeasured


def test_a_burst_on_one_of_stables_pods_is_told_from_noise_every_pod_shares() -> None:
    rng = np.random.default_rng(7)
    everyday = [
        [(float(rng.binomial(250, 0.001)), 250.0) for _ in range(PODS)] for _ in range(2000)
    ]
    # independent requests at 0.1%: three bad requests on one pod while the others had none
    # read as a burst, about one interval of six pods in 300 (7 of these 2,000)
    assert sum(history.burst_among(cells) for cells in everyday) <= 20
    # one pod at 10% for the interval (25 bad of 250), the others as usual
    assert history.burst_among([(25.0, 250.0)] + [(0.0, 250.0)] * (PODS - 1))
    # every pod at 20% (an incident stable suffers as a whole) is no one pod's burst
    assert not history.burst_among([(50.0 + pod, 250.0) for pod in range(PODS)])
    # one pod alone, or pods that served nothing, cannot be compared
    assert not history.burst_among([(25.0, 250.0)])
    assert not history.burst_among([(25.0, 250.0), (0.0, 0.0)])
    # which pod burst, counted among the pods that served
    assert history.bursting([(0.0, 0.0), (0.0, 250.0), (25.0, 250.0), (0.0, 250.0)]) == {2}
    assert history.bursting([(25.0, 250.0), (0.0, 0.0)]) == set()
    # a pod over its neighbour by more than Poisson noise, but within rates that swing by
    # their own size from interval to interval: no burst where the pods' noise is that large
    assert history.bursting([(14.0, 250.0), (4.0, 250.0)]) == {0}
    assert history.bursting([(14.0, 250.0), (4.0, 250.0)], variance=1.0) == set()


def test_a_burst_during_the_rollout_ends_a_quiet_look_back() -> None:
    quiet = history.History(0.02, 0.05, 354)
    assert quiet.quiet
    calm = quiet.seen([(0.0, 250.0)] * PODS)
    assert calm is quiet
    burst = calm.seen([(25.0, 250.0)] + [(0.0, 250.0)] * (PODS - 1))
    assert burst.bursts == 1 and not burst.quiet
    # and stays ended: the quiet hour was luck
    assert not burst.seen([(0.0, 250.0)] * PODS).quiet
    assert history.History.from_list(json.loads(json.dumps(burst.as_list()))) == burst
