"""Corroboration across the canary's pods: a burst on one pod is not the version's fault.

Inputs are per-pod cumulative counters per tick (two canary pods, one stable pod, no sample
times: one interval per tick) for the shipped error policy; outputs are its outcome and
the leave-one-pod-out statistics.
"""

from __future__ import annotations

import dataclasses

from rollout.analysis import history, pods
from rollout.analysis.verdicts import Outcome
from tests.analysis.judged_counters import LEVEL, JudgedCounters


class PodCounters(JudgedCounters):
    """Two canary pods and one stable pod; ``canary_a=(errors, requests)`` per tick."""

    def __init__(self) -> None:
        super().__init__("canary-a", "canary-b", "stable-a")

    def serve(self, **served: tuple[int, int]) -> Outcome:
        judged = self.judge({pod.replace("_", "-"): counts for pod, counts in served.items()})
        return judged.evidence.outcome

    def pooled(self) -> float:
        statistics = pods.Rejection(self.progress.comparison, self.progress.absolute)
        return statistics.log_evidence(compare=True, allowed=0.01, mass=0.8)


def _quiet(counters: PodCounters, ticks: int) -> None:
    for _ in range(ticks):
        counters.serve(canary_a=(0, 50), canary_b=(0, 50), stable_a=(1, 1000))


def test_a_burst_on_one_canary_pod_does_not_roll_the_canary_back() -> None:
    counters = PodCounters()
    counters.serve()
    _quiet(counters, 5)
    for _ in range(6):  # pod a at 20% errors for six intervals, pod b and stable healthy
        outcome = counters.serve(canary_a=(10, 50), canary_b=(0, 50), stable_a=(1, 1000))
        assert outcome is Outcome.PASS
    # the pooled evidence alone would have convicted: one pod carries it
    assert counters.pooled() >= LEVEL
    without_a = counters.progress.pods["pod=canary-a"]
    assert without_a.log_evidence(compare=True, allowed=0.01, mass=0.8) < 0
    _quiet(counters, 20)
    assert counters.serve(canary_a=(0, 50), canary_b=(0, 50), stable_a=(1, 1000)) is (Outcome.PASS)


def test_a_canary_worse_on_every_pod_is_rolled_back() -> None:
    counters = PodCounters()
    counters.serve()
    _quiet(counters, 5)
    outcome = Outcome.PASS
    for _ in range(6):
        outcome = counters.serve(canary_a=(3, 50), canary_b=(3, 50), stable_a=(1, 1000))
        if outcome is Outcome.FAIL:
            break
    assert outcome is Outcome.FAIL


def test_a_canary_with_one_pod_is_judged_on_the_pooled_evidence() -> None:
    lone = {"pod=a": pods.Rejection.fresh()}
    assert pods.corroborated(lone, log_threshold=LEVEL, compare=True, allowed=0.01, mass=0.8)


def _setting(seconds: float) -> pods.Setting:
    return pods.Setting(
        stable=(1.0, 1000.0),
        seconds=seconds,
        noise=0.25,
        rate=0.001,
        allowed=0.01,
        compare=True,
        incident=False,
    )


def test_a_pod_seen_late_starts_from_the_pooled_statistics() -> None:
    setting = _setting(15.0)
    pooled = pods.rejection_step(pods.Rejection.fresh(), (5.0, 100.0), setting)
    first = pods.leave_one_out({}, pods.Rejection.fresh(), [("a", 5.0, 100.0)], setting)
    assert first["a"] == pods.Rejection.fresh()  # without a, no canary requests: unchanged
    later = pods.leave_one_out(first, pooled, [("a", 0.0, 50.0), ("b", 0.0, 50.0)], setting)
    # b was not in the canary's data before: its leave-one-out statistics start as pooled
    assert later["b"] == pods.rejection_step(pooled, (0.0, 50.0), setting)


def test_a_burst_on_another_pod_corroborates_no_pods_evidence() -> None:
    setting = _setting(15.0)
    # pod a bursts (10 of 100 while b served 0 of 100): leave-b-out is a's data alone, and a
    # burst is no evidence of the version's, so it stays where it was
    burst = pods.leave_one_out(
        {}, pods.Rejection.fresh(), [("a", 10.0, 100.0), ("b", 0.0, 100.0)], setting
    )
    assert burst["b"] == pods.Rejection.fresh()
    assert burst["a"] == pods.rejection_step(pods.Rejection.fresh(), (0.0, 100.0), setting)
    # both pods worse alike is the version's regression: each pod's data corroborates the other
    alike = pods.leave_one_out(
        {}, pods.Rejection.fresh(), [("a", 5.0, 100.0), ("b", 5.0, 100.0)], setting
    )
    for key in ("a", "b"):
        assert alike[key] == pods.rejection_step(pods.Rejection.fresh(), (5.0, 100.0), setting)
        assert alike[key].log_evidence(compare=True, allowed=0.01, mass=0.8) > 0


def test_the_statistics_round_trip_through_plain_lists() -> None:
    statistics = pods.Rejection(tuple(float(i) for i in range(8)), (1.0, 2.0, 3.0, 4.0, 5.0))
    assert pods.Rejection.from_list(statistics.as_list()) == statistics
    assert pods.Rejection.from_list([1.0, 2.0]) == pods.Rejection.fresh()


def test_a_canary_bad_on_one_pod_is_rolled_back_once_its_hold_gathers_evidence_afresh() -> None:
    counters = PodCounters()
    counters.serve()
    _quiet(counters, 5)
    outcomes = []
    for _ in range(200):  # pod a at 10% errors for good (one tick is one second here)
        outcomes.append(counters.serve(canary_a=(5, 50), canary_b=(0, 50), stable_a=(1, 1000)))
        if outcomes[-1] is Outcome.FAIL:
            break
    held = counters.progress.held
    assert held is not None
    assert outcomes[-1] is Outcome.FAIL
    # held first, on one pod's evidence; convicted only on evidence from three windows of
    # the correlation time after the first one (each adds at most a third of the level)
    first_held = held.since
    assert len(outcomes) >= first_held + 60 + 2 * 60 - 6
    assert outcomes.count(Outcome.FAIL) == 1


def test_a_hold_adds_at_most_a_third_of_the_level_per_window() -> None:
    setting = _setting(5.0)
    hold = pods.Hold(since=0.0)
    assert hold.step((20.0, 50.0), setting, start=30.0, correlation=60.0, log_threshold=LEVEL) == (
        hold
    )
    for start in range(60, 120, 5):  # one window, a pod at 40% errors all along
        hold = hold.step((20.0, 50.0), setting, start=start, correlation=60.0, log_threshold=LEVEL)
    evidence = hold.statistics.log_evidence(compare=True, allowed=0.01, mass=0.8)
    assert LEVEL / 3 - 1.0 < evidence <= LEVEL / 3 + 1e-9
    assert pods.Hold.from_list(hold.as_list()) == hold


class StablePodCounters(JudgedCounters):
    """Two canary pods and two stable pods, after a look-back that found stable quiet."""

    def __init__(self) -> None:
        super().__init__("canary-a", "canary-b", "stable-a", "stable-b")
        self.progress = dataclasses.replace(self.progress, history=history.History(0.0, 0.05, 354))

    def serve(
        self,
        stable_a: tuple[int, int] = (0, 500),
        canary_a: tuple[int, int] = (0, 50),
        canary_b: tuple[int, int] = (0, 50),
    ) -> Outcome:
        judged = self.judge(
            {
                "canary-a": canary_a,
                "canary-b": canary_b,
                "stable-a": stable_a,
                "stable-b": (0, 500),
            }
        )
        return judged.evidence.outcome


def test_a_burst_on_a_stable_pod_during_the_rollout_ends_the_quiet_check_across_pods() -> None:
    counters = StablePodCounters()
    counters.serve()
    for _ in range(10):
        counters.serve()
    assert counters.progress.history.quiet
    counters.serve(stable_a=(50, 500))  # one stable pod at 10% for an interval
    assert counters.progress.history.bursts == 1
    assert not counters.progress.history.quiet
    for _ in range(10):
        counters.serve()
    assert not counters.progress.history.quiet


def test_a_burst_on_one_canary_pod_ends_the_quiet_check_across_pods() -> None:
    counters = StablePodCounters()
    counters.serve()
    for _ in range(10):
        counters.serve()
    assert counters.progress.history.quiet
    counters.serve(canary_a=(10, 50))  # one canary pod at 20% for an interval, not the other
    assert counters.progress.history.bursts == 1
    assert not counters.progress.history.quiet  # the full check across pods from now on


def test_a_canary_worse_on_every_pod_keeps_the_quiet_check_across_pods() -> None:
    counters = StablePodCounters()
    counters.serve()
    outcome = Outcome.PASS
    for _ in range(10):  # both canary pods at 6%: the version, not one pod
        outcome = counters.serve(canary_a=(3, 50), canary_b=(3, 50))
        if outcome is Outcome.FAIL:
            break
    assert counters.progress.history.quiet
    assert outcome is Outcome.FAIL
