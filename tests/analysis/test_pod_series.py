"""The check across pods on per-destination-pod series, beside caller-seen pooled counts.

Inputs are hand-made cumulative counters per tick for the shipped error policy: the
caller-seen queries (``errors``/``total``) have one series per calling pod, each caller
getting half of every pod's requests and errors (as under ``reporter="source"``), and the
per-destination-pod queries (``pod_errors``/``pod_total``) one series per canary or stable
pod. No sample times: one interval per tick. Outputs are the policy's outcome, its pooled
evidence and whose leave-one-out statistics the check keeps.
"""

from __future__ import annotations

from collections.abc import Mapping

from rollout.analysis import pods
from rollout.analysis.incidents import over_on_every_pod
from rollout.analysis.observations import Reading
from rollout.analysis.pod_series import pod_count_fields
from rollout.analysis.running import PolicyProgress
from rollout.analysis.verdicts import Outcome
from rollout.spec.policy import RenderedPolicy
from tests.analysis.judged_counters import LEVEL, POLICY, JudgedCounters

CALLERS = ("caller-x", "caller-y")
WITHOUT_POD_QUERIES = POLICY.model_copy(
    update={"templates": {k: v for k, v in POLICY.templates.items() if not k.startswith("pod_")}}
)


class CallersAndPods(JudgedCounters):
    """Two canary pods and one stable pod, seen per caller and per destination pod."""

    def __init__(self, policy: RenderedPolicy = POLICY, *, pod_answers: bool = True) -> None:
        super().__init__("canary-a", "canary-b", "stable-s")
        self.policy = policy
        self.pod_answers = pod_answers

    def serve(self, a: tuple[int, int], b: tuple[int, int]) -> Outcome:
        """One tick: canary pods a and b serve ``(errors, requests)``, stable 1 in 1,000."""
        served = {"canary-a": a, "canary-b": b, "stable-s": (1, 1000)}
        return self.judge(served).evidence.outcome

    def quiet(self, ticks: int) -> None:
        for _ in range(ticks):
            assert self.serve((0, 50), (0, 50)) is Outcome.PASS

    def pooled(self) -> float:
        statistics = pods.Rejection(self.progress.comparison, self.progress.absolute)
        return statistics.log_evidence(compare=True, allowed=0.01, mass=0.8)

    def _readings(self, version: str) -> dict[str, Reading]:
        mine = {name: v for name, v in self.values.items() if name.startswith(version)}
        # every caller reaches every pod alike: each sees half of each pod's counts
        bad = sum(v[0] for v in mine.values()) / len(CALLERS)
        total = sum(v[1] for v in mine.values()) / len(CALLERS)
        readings = {
            "errors": Reading("errors", {f"pod={caller}": bad for caller in CALLERS}),
            "total": Reading("total", {f"pod={caller}": total for caller in CALLERS}),
        }
        if self.pod_answers:
            readings["pod_errors"] = Reading("pod_errors", _per_pod(mine, 0))
            readings["pod_total"] = Reading("pod_total", _per_pod(mine, 1))
        else:
            readings["pod_errors"] = Reading("pod_errors", {})
            readings["pod_total"] = Reading("pod_total", {})
        return readings


def _per_pod(counters: Mapping[str, list[float]], index: int) -> dict[str, float]:
    return {f"pod={name}": values[index] for name, values in counters.items()}


def test_the_shipped_count_policies_name_their_per_pod_queries() -> None:
    assert pod_count_fields(POLICY) == ("pod_errors", "pod_total")
    assert pod_count_fields(WITHOUT_POD_QUERIES) is None


def test_a_burst_on_one_canary_pod_seen_by_every_caller_is_held() -> None:
    counters = CallersAndPods()
    counters.serve((0, 0), (0, 0))
    counters.quiet(5)
    for _ in range(6):  # pod a at 20% errors: every caller sees half of them
        assert counters.serve((10, 50), (0, 50)) is Outcome.PASS
    # the pooled (caller-seen) evidence alone would have convicted: one pod carries it
    assert counters.pooled() >= LEVEL
    assert set(counters.progress.pods) == {"pod=canary-a", "pod=canary-b"}
    without_a = counters.progress.pods["pod=canary-a"]
    assert without_a.log_evidence(compare=True, allowed=0.01, mass=0.8) < 0
    assert counters.progress.held is not None


def test_without_per_pod_queries_the_callers_cannot_tell_the_burst_from_the_version() -> None:
    counters = CallersAndPods(WITHOUT_POD_QUERIES)
    counters.serve((0, 0), (0, 0))
    counters.quiet(5)
    outcomes = [counters.serve((10, 50), (0, 50)) for _ in range(6)]
    assert Outcome.FAIL in outcomes
    assert set(counters.progress.pods) == {"pod=caller-x", "pod=caller-y"}


def test_a_canary_bad_on_every_pod_is_rolled_back_with_per_pod_queries() -> None:
    counters = CallersAndPods()
    counters.serve((0, 0), (0, 0))
    counters.quiet(5)
    outcomes = [counters.serve((3, 50), (3, 50)) for _ in range(6)]
    assert Outcome.FAIL in outcomes


def test_per_pod_queries_without_canary_series_leave_the_check_on_the_callers() -> None:
    counters = CallersAndPods(pod_answers=False)
    counters.serve((0, 0), (0, 0))
    counters.quiet(3)
    assert set(counters.progress.pods) == {"pod=caller-x", "pod=caller-y"}
    assert not counters.progress.pod_timeline.tracks.get("canary.total")


def test_the_per_pod_timeline_survives_the_stored_json() -> None:
    counters = CallersAndPods()
    counters.serve((0, 0), (0, 0))
    counters.quiet(2)
    stored = PolicyProgress.from_dict(counters.progress.as_dict())
    assert stored.pod_timeline == counters.progress.pod_timeline
    assert stored.pod_timeline.cut is not None


class TwoStablePods(CallersAndPods):
    """Two canary pods and two stable pods, seen per caller and per destination pod."""

    def __init__(self) -> None:
        JudgedCounters.__init__(self, "canary-a", "canary-b", "stable-s", "stable-t")
        self.policy = POLICY
        self.pod_answers = True

    def serve_both(
        self, canary: tuple[int, int], s: tuple[int, int], t: tuple[int, int]
    ) -> Outcome:
        """One tick: each canary pod serves ``canary``; stable pods s and t their own."""
        served = {"canary-a": canary, "canary-b": canary, "stable-s": s, "stable-t": t}
        return self.judge(served).evidence.outcome

    def against_the_slo(self) -> tuple[float, ...]:
        return self.progress.absolute


def test_stable_over_its_slo_on_every_pod_is_told_from_one_pods_burst() -> None:
    # 7 and 8 in 500 each: the pod with 8 left out, 7 > 500 x 1% + 1
    assert over_on_every_pod([(8, 500), (7, 500)], allowed=0.01)
    # a burst on one pod: the rest is at its everyday rate
    assert not over_on_every_pod([(14, 500), (1, 500)], allowed=0.01)
    # one pod cannot tell an incident from its own burst
    assert not over_on_every_pod([(30, 500), (0, 0)], allowed=0.01)


def _quiet_start() -> TwoStablePods:
    """A baseline and three quiet ticks."""
    counters = TwoStablePods()
    counters.serve_both((0, 0), (0, 0), (0, 0))
    for _ in range(3):
        counters.serve_both((0, 50), (0, 500), (1, 500))
    return counters


def test_a_partial_incident_on_every_stable_pod_is_not_held_against_the_canary() -> None:
    counters = _quiet_start()
    before = counters.against_the_slo()
    # stable at 1.5%: over the 1% SLO on both pods, not clearly enough to be an incident
    # on its own; the canary's pods at 1.5% too
    counters.serve_both((1, 50), (8, 500), (7, 500))
    counters.serve_both((1, 50), (7, 500), (8, 500))
    assert counters.against_the_slo() == before


def test_one_stable_pods_burst_leaves_the_canary_judged_against_the_slo() -> None:
    counters = _quiet_start()
    before = counters.against_the_slo()
    # the same 15 bad stable requests, all on pod s: a burst, not a shared incident; the
    # canary at 6% on both its pods is judged against its SLO
    counters.serve_both((3, 50), (14, 500), (1, 500))
    assert max(counters.against_the_slo()) > max(before)
