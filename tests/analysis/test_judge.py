"""The judge on hand-made observations: baseline, pass, fail, inconclusive, promotable.

Inputs are the shipped policies (resolved) and readings as ``observe`` would produce them;
outputs are verdicts, their evidence and the state, which must survive JSON.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from rollout.analysis.count_check import BASELINE_MESSAGE
from rollout.analysis.judge import judge, rejection_log_threshold
from rollout.analysis.observations import PolicyObservation, Reading, ReadingProblem
from rollout.analysis.running import AnalysisState
from rollout.analysis.verdicts import Outcome
from rollout.source.files import shipped_policies
from rollout.spec.policy import RenderedPolicy, resolve
from rollout.spec.rollout import Analysis, NoDataMeaning

POLICIES = [resolve(policy, {}) for policy in shipped_policies()]
SETTINGS = Analysis()


class Traffic:
    """Cumulative counters of both versions, turned into observations."""

    def __init__(self) -> None:
        self.counts = {v: {"total": 0.0, "errors": 0.0, "slow": 0.0} for v in ("c", "s")}
        self.p99 = {"c": 50.0, "s": 50.0}

    def serve(self, version: str, requests: int, *, errors: int = 0, slow: int = 0) -> None:
        self.counts[version]["total"] += requests
        self.counts[version]["errors"] += errors
        self.counts[version]["slow"] += slow

    def observe(self, *, silent_canary: bool = False) -> dict[str, PolicyObservation]:
        def readings(version: str, policy: RenderedPolicy) -> dict[str, Reading]:
            out = {}
            for field in policy.templates:
                if field in ("sampled", "pod_sampled"):
                    continue  # observe turns it into the readings' sample times
                if field == "quantile":
                    if silent_canary and version == "c":
                        out[field] = Reading.failed("q", ReadingProblem.NO_DATA)
                    else:
                        out[field] = Reading.of("q", self.p99[version])
                elif silent_canary and version == "c" and field.endswith("total"):
                    out[field] = Reading(query="t", series={})
                else:
                    # one pod: the per-destination-pod queries read what the others do
                    counted = self.counts[version][field.removeprefix("pod_")]
                    out[field] = Reading(query=field, series={"pod=x": counted})
            return out

        return {
            p.name: PolicyObservation(p.name, canary=readings("c", p), stable=readings("s", p))
            for p in POLICIES
        }


def run(
    traffic: Traffic, state: Any, settings: Analysis = SETTINGS, **kwargs: bool
) -> tuple[Any, AnalysisState]:
    verdict, new_state = judge(POLICIES, traffic.observe(**kwargs), settings, state)
    # the state is stored in the cluster between ticks: it must survive JSON, exactly (the
    # analyzer keeps the state itself between ticks instead of reading its JSON back)
    stored = AnalysisState.from_dict(json.loads(json.dumps(new_state.as_dict())))
    assert stored == new_state
    return verdict, stored


def test_first_tick_is_a_baseline_that_passes_without_promoting() -> None:
    traffic = Traffic()
    traffic.serve("s", 10_000, errors=10)
    verdict, state = run(traffic, None, silent_canary=True)
    assert verdict.outcome is Outcome.PASS
    assert not verdict.promotable
    assert state.ticks == 1
    # what the demo reads to tell the baseline from a later pass with no request counted
    counted = [e for e in verdict.evidence if e.check in ("errors", "slow-requests")]
    assert counted and all(e.message == BASELINE_MESSAGE for e in counted)


def test_no_canary_traffic_after_the_baseline_is_inconclusive_or_fails_on_request() -> None:
    traffic = Traffic()
    _, state = run(traffic, None, silent_canary=True)
    traffic.serve("s", 1000)
    verdict, _ = run(traffic, state, silent_canary=True)
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert "no canary requests yet" in verdict.reason
    strict = SETTINGS.model_copy(update={"no_data": NoDataMeaning.FAIL})
    verdict, _ = run(traffic, state, strict, silent_canary=True)
    assert verdict.outcome is Outcome.FAIL


def test_no_canary_request_where_its_weight_predicts_hardly_any_is_not_judged() -> None:
    # 1% of a quiet service: 300 stable requests predict three canary requests
    counted = [p for p in POLICIES if p.name != "istio-latency-p99"]  # the default policies
    strict = SETTINGS.model_copy(update={"no_data": NoDataMeaning.FAIL})
    traffic = Traffic()

    def tick(
        state: Any, settings: Analysis = SETTINGS, weight: float = 1
    ) -> tuple[Any, AnalysisState]:
        observed = traffic.observe(silent_canary=True)
        return judge(counted, observed, settings, state, canary_weight=weight)

    _, state = tick(None)
    traffic.serve("s", 300)
    for settings in (SETTINGS, strict):
        verdict, _ = tick(state, settings)
        assert verdict.outcome is Outcome.PASS, verdict.reason
        assert not verdict.within_slo and not verdict.promotable
        assert "3.0 expected at 1%" in verdict.evidence[0].message
    # at 0% (header routes, a mirror) the weight predicts nothing: silence is inconclusive
    verdict, _ = tick(state, weight=0)
    assert verdict.outcome is Outcome.INCONCLUSIVE
    # stable's next 400 predict seven in all: their absence is a problem again
    traffic.serve("s", 400)
    verdict, _ = tick(state)
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert "no canary requests yet" in verdict.reason
    verdict, _ = tick(state, strict)
    assert verdict.outcome is Outcome.FAIL


def test_a_healthy_canary_is_promotable_once_shown_within_its_slos() -> None:
    traffic = Traffic()
    _, state = run(traffic, None)
    for _ in range(6):
        traffic.serve("c", 50)
        traffic.serve("s", 950, errors=1)
        verdict, state = run(traffic, state)
        assert verdict.outcome is Outcome.PASS, verdict.reason
    # 300 requests without an error do not yet show a rate under 1% at the 0.1% level
    assert verdict.canary_requests == 300
    assert not verdict.promotable and not verdict.within_slo
    assert "within SLO: not yet shown" in verdict.evidence[0].message
    for _ in range(14):
        traffic.serve("c", 50)
        traffic.serve("s", 950, errors=1)
        verdict, state = run(traffic, state)
    assert verdict.promotable and verdict.within_slo, verdict.evidence[0].message


def test_a_canary_at_twice_its_slo_is_never_shown_within_it() -> None:
    traffic = Traffic()
    _, state = run(traffic, None)
    for _ in range(40):
        traffic.serve("c", 100, errors=2)
        traffic.serve("s", 100, errors=2)
        verdict, state = run(traffic, state)
        assert not verdict.within_slo


def test_an_erroring_canary_fails_with_its_numbers_and_stays_failed() -> None:
    traffic = Traffic()
    _, state = run(traffic, None)
    for _ in range(4):
        traffic.serve("c", 10, errors=1)
        traffic.serve("s", 1000, errors=1)
        verdict, state = run(traffic, state)
    assert verdict.outcome is Outcome.FAIL
    (failed,) = verdict.failed
    assert failed.policy == "istio-error-ratio"
    assert failed.value == pytest.approx(0.1)
    assert failed.sample_size == 40
    assert failed.p_value is not None and failed.p_value < 0.01
    assert "4 errors in 40 requests" in failed.message
    traffic.serve("c", 1000)
    traffic.serve("s", 1000)
    verdict, _ = run(traffic, state)
    assert verdict.outcome is Outcome.FAIL


def test_a_slow_quantile_fails_only_once_the_canary_has_enough_requests() -> None:
    traffic = Traffic()
    traffic.p99["c"] = 900.0
    _, state = run(traffic, None)
    traffic.serve("c", 20)
    traffic.serve("s", 2000)
    verdict, state = run(traffic, state)
    assert verdict.outcome is Outcome.INCONCLUSIVE
    traffic.serve("c", 100)
    traffic.serve("s", 2000)
    verdict, _ = run(traffic, state)
    assert verdict.outcome is Outcome.FAIL
    assert verdict.failed[0].check == "quantile"


def test_unreachable_prometheus_is_inconclusive_and_keeps_the_counts() -> None:
    traffic = Traffic()
    _, state = run(traffic, None)
    traffic.serve("c", 30)
    traffic.serve("s", 3000)
    _, state = run(traffic, state)
    down = {
        p.name: PolicyObservation(
            p.name,
            canary={
                f: Reading.failed("q", ReadingProblem.UNREACHABLE, "refused") for f in p.templates
            },
            stable={
                f: Reading.failed("q", ReadingProblem.UNREACHABLE, "refused") for f in p.templates
            },
        )
        for p in POLICIES
    }
    verdict, state = judge(POLICIES, down, SETTINGS, state)
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert "refused" in verdict.reason
    traffic.serve("c", 30)
    traffic.serve("s", 3000)
    verdict, _ = run(traffic, state)
    assert verdict.canary_requests == 60


def test_alpha_is_split_over_the_count_policies() -> None:
    assert rejection_log_threshold(POLICIES, 0.01) == pytest.approx(math.log(200))
