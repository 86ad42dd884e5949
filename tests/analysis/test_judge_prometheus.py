"""Verdicts on real Prometheus data: a healthy, an erroring, a slow and a silent canary,
Prometheus stopped mid-analysis, and whole rollouts through an incident both versions share.

Inputs are counters served by the test exporter and scraped every second by a real
Prometheus, read through ``observe`` with the shipped policies; outputs are the verdicts
of ``judge`` tick after tick, with the state carried through JSON as the status would.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from rollout.analysis.judge import judge
from rollout.analysis.verdicts import Outcome, Verdict
from rollout.decide import Observations, decide
from rollout.metrics.observe import observe, template_context
from rollout.metrics.prometheus import PrometheusProvider, PrometheusSettings
from rollout.source.files import shipped_policies
from rollout.spec.policy import resolve
from rollout.spec.rollout import Rollout
from rollout.state import Phase, RolloutState
from rollout_local.processes.prometheus_server import PrometheusServer
from tests.metrics.exporter import IstioExporter
from tests.metrics.shop_rollouts import shop_rollout
from tests.metrics.stack import wait_for_scrape, wait_until

pytestmark = pytest.mark.slow

POLICIES = [resolve(policy, {}) for policy in shipped_policies()]


class Analysis:
    """One rollout's analysis loop: observe, judge, store the state as JSON."""

    def __init__(self, rollout: Rollout, provider: PrometheusProvider) -> None:
        self.rollout = rollout
        self.provider = provider
        self.state: dict[str, Any] = {}

    def tick(self) -> Verdict:
        observations = observe(
            POLICIES,
            self.provider,
            canary=template_context(self.rollout, "v2", window="20s"),
            stable=template_context(self.rollout, "v1", window="20s"),
            timeout=3.0,
        )
        verdict, state = judge(POLICIES, observations, self.rollout.spec.analysis, self.state)
        self.state = json.loads(json.dumps(state.as_dict()))
        return verdict


def _serve(
    exporter: IstioExporter,
    provider: PrometheusProvider,
    name: str,
    *,
    canary: int,
    canary_errors: int = 0,
    canary_ms: float = 30.0,
    stable: int = 1000,
    start_canary_series: bool = False,
) -> None:
    exporter.record(f"{name}-v1", requests=stable, duration_ms=30.0)
    if start_canary_series:
        # a deployed canary's series exist at zero, so rate() sees its first requests
        exporter.record(f"{name}-v2", requests=0)
    if canary:
        exporter.record(f"{name}-v2", requests=canary - canary_errors, duration_ms=canary_ms)
    if canary_errors:
        exporter.record(f"{name}-v2", requests=canary_errors, code="503", duration_ms=canary_ms)
    for version in ("v1", "v2") if canary else ("v1",):
        workload = f"{name}-{version}"
        wait_for_scrape(
            provider,
            f'sum(istio_requests_total{{destination_workload="{workload}"}})',
            sum(exporter_totals(exporter, workload)),
        )
    if canary:
        # rate() needs two samples of a new series: the p99 exists from the second scrape
        rate = (
            "rate(istio_request_duration_milliseconds_count"
            f'{{destination_workload="{name}-v2"}}[20s]) > 0'
        )
        wait_until(lambda: bool(provider.query_series(rate)))


def exporter_totals(exporter: IstioExporter, workload: str) -> list[float]:
    text = exporter.render()
    return [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("istio_requests_total{") and f'destination_workload="{workload}"' in line
    ]


def test_a_healthy_canary_passes_and_becomes_promotable(
    exporter: IstioExporter, provider: PrometheusProvider
) -> None:
    _serve(exporter, provider, "healthy", canary=0, start_canary_series=True)
    analysis = Analysis(shop_rollout("healthy"), provider)
    assert analysis.tick().outcome is Outcome.PASS
    for _ in range(3):
        _serve(exporter, provider, "healthy", canary=200)
        verdict = analysis.tick()
        assert verdict.outcome is Outcome.PASS, verdict.reason
    assert verdict.canary_requests == 600
    assert verdict.promotable, verdict.evidence


def test_an_erroring_canary_fails_on_its_error_counts(
    exporter: IstioExporter, provider: PrometheusProvider
) -> None:
    _serve(exporter, provider, "erroring", canary=0, start_canary_series=True)
    analysis = Analysis(shop_rollout("erroring"), provider)
    analysis.tick()
    # one interval cannot convict alone, however bad (a burst looks the same): three do
    for _ in range(3):
        _serve(exporter, provider, "erroring", canary=40, canary_errors=4, stable=4000)
        verdict = analysis.tick()
    assert verdict.outcome is Outcome.FAIL
    failed = {item.policy for item in verdict.failed}
    assert failed == {"istio-error-ratio"}
    assert "12 errors in 120 requests" in verdict.reason


def test_a_slow_canary_fails_on_slow_requests_and_its_p99(
    exporter: IstioExporter, provider: PrometheusProvider
) -> None:
    _serve(exporter, provider, "slow", canary=0, start_canary_series=True)
    analysis = Analysis(shop_rollout("slow"), provider)
    analysis.tick()
    for _ in range(3):
        _serve(exporter, provider, "slow", canary=150, canary_ms=400.0)
        verdict = analysis.tick()
    assert verdict.outcome is Outcome.FAIL
    failed = {(item.policy, item.check) for item in verdict.failed}
    assert ("istio-slow-request-ratio", "slow-requests") in failed
    assert ("istio-latency-p99", "quantile") in failed


def test_a_silent_canary_is_inconclusive_and_never_promotable(
    exporter: IstioExporter, provider: PrometheusProvider
) -> None:
    _serve(exporter, provider, "silent", canary=0)
    analysis = Analysis(shop_rollout("silent"), provider)
    assert analysis.tick().outcome is Outcome.PASS
    for _ in range(2):
        _serve(exporter, provider, "silent", canary=0)
        verdict = analysis.tick()
        assert verdict.outcome is Outcome.INCONCLUSIVE
        assert not verdict.promotable
    assert "no canary requests yet" in verdict.reason


def test_prometheus_stopped_mid_analysis_is_inconclusive(exporter: IstioExporter) -> None:
    with PrometheusServer(scrape_configs=[exporter.scrape_config()], scrape_interval=1.0) as own:
        own.wait_for_targets()
        provider = PrometheusProvider(PrometheusSettings(url=own.url))
        _serve(exporter, provider, "stopped", canary=0, start_canary_series=True)
        analysis = Analysis(shop_rollout("stopped"), provider)
        analysis.tick()
        _serve(exporter, provider, "stopped", canary=50)
        assert analysis.tick().outcome is Outcome.PASS
        own.stop()
        verdict = analysis.tick()
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert "unreachable" in verdict.reason
    assert not verdict.promotable
    assert verdict.canary_requests == 50


class Rollout2:
    """A whole rollout, judged on real Prometheus data and walked by the decision core."""

    def __init__(self, name: str, provider: PrometheusProvider) -> None:
        self.rollout = shop_rollout(
            name,
            steps=[
                {"setWeight": 20},
                {"analyze": {"duration": "20s"}},
                {"setWeight": 50},
                {"analyze": {"duration": "20s"}},
            ],
        )
        self.analysis = Analysis(self.rollout, provider)
        self.state = RolloutState(stable_version="v1", spec_hash="h1")
        self.now = 1000.0

    def tick(self) -> RolloutState:
        verdict = self.analysis.tick()
        self.now += 10.0
        observed = Observations(
            now=self.now,
            spec_hash="h2",
            canary_ready=True,
            verdict=verdict,
            analysis_state=self.analysis.state,
        )
        self.state = decide(self.rollout, self.state, observed).state
        return self.state


def _incident_rollout(
    exporter: IstioExporter,
    provider: PrometheusProvider,
    name: str,
    *,
    canary_errors: tuple[int, int],
) -> RolloutState:
    """Ticks of 300 canary and 700 stable requests, ticks 3-4 a shared incident (20% of
    stable's requests fail); ``canary_errors`` = the canary's errors (outside, inside)."""
    _serve(exporter, provider, name, canary=0, start_canary_series=True)
    rollout = Rollout2(name, provider)
    for tick in range(24):
        incident = tick in (3, 4)
        stable_errors = 140 if incident else 1
        exporter.record(f"{name}-v1", requests=700 - stable_errors, duration_ms=30.0)
        exporter.record(f"{name}-v1", requests=stable_errors, code="503", duration_ms=30.0)
        errors = canary_errors[1] if incident else canary_errors[0]
        _serve(exporter, provider, name, canary=300, canary_errors=errors, stable=0)
        state = rollout.tick()
        if not state.phase.active:
            break
    return state


def test_a_healthy_canary_through_a_shared_incident_is_promoted(
    exporter: IstioExporter, provider: PrometheusProvider
) -> None:
    # both versions fail 20% of their requests for two ticks: no fault of the canary
    state = _incident_rollout(exporter, provider, "shared", canary_errors=(0, 60))
    assert state.phase is Phase.SUCCEEDED, state.last_verdict
    assert state.stable_version == "v2"
    assert state.last_verdict is not None
    assert "within SLO: shown" in state.last_verdict.evidence[0]["message"]


def test_a_canary_worse_than_stable_in_the_same_incident_is_rolled_back(
    exporter: IstioExporter, provider: PrometheusProvider
) -> None:
    # the same incident, but the canary fails 60% then, and 1% outside it against 0.14%
    state = _incident_rollout(exporter, provider, "worse", canary_errors=(3, 180))
    assert state.phase is Phase.ROLLED_BACK, state.message
    assert "istio-error-ratio: canary worse" in state.message
