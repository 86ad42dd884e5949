"""The check across pods on a real Prometheus: callers that see every pod's errors, and the
canary's own pods that say where they were served.

Inputs: the test exporter's counters, scraped every second by a real Prometheus, for two
canary pods (a, b) and two stable pods, each request counted twice as Istio would: once by
the calling pod's sidecar (``reporter="source"``, callers x and y, each getting half of
every pod's requests and errors) and once by the serving pod's (``reporter="destination"``).
Read through ``observe`` with the shipped policies and judged by ``judge`` tick after tick
(the state carried through JSON). Outputs: the verdicts, and the pooled evidence (with its
canary-versus-SLO part, which stable over its SLO on every pod leaves alone and one stable
pod's burst does not).
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from rollout.analysis.judge import judge
from rollout.analysis.running import AnalysisState
from rollout.analysis.verdicts import Outcome, Verdict
from rollout.metrics.observe import observe, template_context
from rollout.metrics.prometheus import PrometheusProvider
from rollout.source.files import shipped_policies
from rollout.spec.policy import RenderedPolicy, resolve
from tests.metrics.exporter import IstioExporter
from tests.metrics.shop_rollouts import shop_rollout
from tests.metrics.stack import wait_for_scrape

pytestmark = pytest.mark.slow

POLICIES = [resolve(policy, {}) for policy in shipped_policies()]
WITHOUT_POD_QUERIES = [
    policy.model_copy(
        update={"templates": {k: v for k, v in policy.templates.items() if "pod_" not in k}}
    )
    for policy in POLICIES
]
CALLERS = ("x", "y")
STABLE = {"s1": (1, 500), "s2": (1, 500)}
LEVEL = math.log(2 / 0.01)


class Service:
    """One service's counters, recorded per caller and per serving pod."""

    def __init__(
        self,
        exporter: IstioExporter,
        provider: PrometheusProvider,
        name: str,
        policies: list[RenderedPolicy],
    ) -> None:
        self.exporter, self.provider, self.name = exporter, provider, name
        self.rollout = shop_rollout(name)
        self.policies = policies
        self.state: dict[str, Any] = {}
        self.served = {"v1": 0, "v2": 0}

    def serve(
        self,
        canary: dict[str, tuple[int, int]],
        stable: dict[str, tuple[int, int]] | None = None,
    ) -> None:
        """Each pod's ``(errors, requests)`` this tick (even numbers: callers get halves);
        stable's pods serve ``STABLE`` unless told otherwise."""
        for version, pods in (("v1", stable or STABLE), ("v2", canary)):
            workload = f"{self.name}-{version}"
            for pod, (bad, total) in pods.items():
                self._record(workload, pod, bad, total, "destination")
            bad = sum(counts[0] for counts in pods.values())
            total = sum(counts[1] for counts in pods.values())
            for caller in CALLERS:
                self._record(workload, caller, bad // 2, total // 2, "source")
            self.served[version] += total
        for version, total in self.served.items():
            for reporter in ("source", "destination"):
                wait_for_scrape(
                    self.provider,
                    f'sum(istio_requests_total{{reporter="{reporter}",'
                    f'destination_workload="{self.name}-{version}"}})',
                    float(total),
                )

    def _record(self, workload: str, pod: str, bad: int, total: int, reporter: str) -> None:
        self.exporter.record(workload, pod=pod, requests=total - bad, reporter=reporter)
        self.exporter.record(workload, pod=pod, requests=bad, code="503", reporter=reporter)

    def tick(self) -> Verdict:
        observations = observe(
            self.policies,
            self.provider,
            canary=template_context(self.rollout, "v2", window="20s"),
            stable=template_context(self.rollout, "v1", window="20s"),
            timeout=3.0,
        )
        verdict, state = judge(self.policies, observations, self.rollout.spec.analysis, self.state)
        self.state = json.loads(json.dumps(state.as_dict()))
        return verdict

    def pooled_peak(self) -> float:
        errors = AnalysisState.from_dict(self.state).policies["istio-error-ratio"]
        return errors.peak_log_evidence

    def against_the_slo(self) -> float:
        """The canary-versus-SLO part of the pooled evidence: its largest log ratio."""
        errors = AnalysisState.from_dict(self.state).policies["istio-error-ratio"]
        return max(errors.absolute)


def _burst_on_pod_a(service: Service) -> list[Verdict]:
    """A baseline, three quiet ticks, then five with pod a at 20% errors and b healthy."""
    service.serve({"a": (0, 0), "b": (0, 0)})
    verdicts = [service.tick()]
    for tick in range(8):
        bad = 20 if tick >= 3 else 0
        service.serve({"a": (bad, 100), "b": (0, 100)})
        verdicts.append(service.tick())
    return verdicts


def test_a_burst_on_one_canary_pod_seen_by_every_caller_is_held(
    exporter: IstioExporter, provider: PrometheusProvider
) -> None:
    service = Service(exporter, provider, "podburst", POLICIES)
    verdicts = _burst_on_pod_a(service)
    assert all(verdict.outcome is not Outcome.FAIL for verdict in verdicts), verdicts[-1].reason
    # the callers' pooled counts reached the rollback level: the pods said it was one pod
    assert service.pooled_peak() >= LEVEL
    assert verdicts[-1].leaning_worse, "held: no step raises the weight"
    kept = AnalysisState.from_dict(service.state).policies["istio-error-ratio"].pods
    assert sorted(kept) == ["pod=a", "pod=b"], "the check reads the canary's own pods"


def test_without_per_pod_queries_every_caller_corroborates_the_burst(
    exporter: IstioExporter, provider: PrometheusProvider
) -> None:
    service = Service(exporter, provider, "podburst-callers", WITHOUT_POD_QUERIES)
    verdicts = _burst_on_pod_a(service)
    assert verdicts[-1].outcome is Outcome.FAIL


def test_a_canary_bad_on_every_pod_is_still_rolled_back(
    exporter: IstioExporter, provider: PrometheusProvider
) -> None:
    service = Service(exporter, provider, "podbad", POLICIES)
    service.serve({"a": (0, 0), "b": (0, 0)})
    service.tick()
    outcome = Outcome.PASS
    for _ in range(8):
        service.serve({"a": (6, 100), "b": (6, 100)})
        outcome = service.tick().outcome
        if outcome is Outcome.FAIL:
            break
    assert outcome is Outcome.FAIL


def _stable_over_its_slo(service: Service, stable: dict[str, tuple[int, int]]) -> float:
    """A baseline and two quiet ticks, then three in which stable's pods serve ``stable``
    (16 bad requests in 1,000: over the 1% SLO, not by the three deviations of a whole
    incident) and the canary's pods 4%; the canary-versus-SLO evidence those three added."""
    service.serve({"a": (0, 0), "b": (0, 0)})
    service.tick()
    for _ in range(2):
        service.serve({"a": (0, 100), "b": (0, 100)})
        service.tick()
    before = service.against_the_slo()
    for _ in range(3):
        service.serve({"a": (4, 100), "b": (4, 100)}, stable)
        service.tick()
    return service.against_the_slo() - before


def test_stable_over_its_slo_on_every_pod_is_not_held_against_the_canary(
    exporter: IstioExporter, provider: PrometheusProvider
) -> None:
    # the part of a shared incident that an interval covers: every stable pod over the SLO
    service = Service(exporter, provider, "partial-incident", POLICIES)
    assert _stable_over_its_slo(service, {"s1": (8, 500), "s2": (8, 500)}) == 0.0


def test_one_stable_pods_burst_is_not_taken_for_an_incident(
    exporter: IstioExporter, provider: PrometheusProvider
) -> None:
    # the same 16 bad stable requests, all on s1: every caller sees them, the pods do not
    service = Service(exporter, provider, "stable-burst", POLICIES)
    assert _stable_over_its_slo(service, {"s1": (16, 500), "s2": (0, 500)}) > 0.0
