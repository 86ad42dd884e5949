"""Stable's look-back, read from a real Prometheus by the analyzer on a rollout's first tick.

Inputs: the test exporter's counters for three stable pods, recorded second by second and
scraped every second by a real Prometheus (one service whose pods agree, one whose third
pod bursts for three seconds, each seen per pod and per caller; one seen per caller only);
outputs: the range query's samples per pod, the history the
analyzer's first tick stores (pod-minutes read, quiet or not), and that later ticks ask no
range query.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from rollout.analysis.running import AnalysisState
from rollout.metrics.analyzer import MetricsAnalyzer
from rollout.metrics.look_back import LookBack
from rollout.metrics.prometheus import PrometheusProvider
from rollout.ports import DEFAULT_QUERY_TIMEOUT, Desired, Series
from rollout.source.files import shipped_policies
from rollout.spec.policy import RenderedPolicy, resolve
from rollout.state import RolloutState
from tests.metrics.exporter import IstioExporter
from tests.metrics.shop_rollouts import shop_rollout
from tests.metrics.stack import wait_for_scrape

pytestmark = pytest.mark.slow

PODS = ("a", "b", "c")
CALLERS = ("x", "y", "z")
SERVICES = ("agreeing", "bursting", "callers-only")
SECONDS = 14
LOOK_BACK = LookBack(seconds=SECONDS + 4, step=1.0)
POLICIES = tuple(resolve(policy, {}) for policy in shipped_policies())


class CountingProvider:
    """The real provider, counting the range queries asked of it."""

    def __init__(self, provider: PrometheusProvider) -> None:
        self.provider = provider
        self.ranges = 0

    def query(
        self, promql: str, *, at: float | None = None, timeout: float = DEFAULT_QUERY_TIMEOUT
    ) -> float:
        return self.provider.query(promql, at=at, timeout=timeout)

    def query_series(
        self, promql: str, *, at: float | None = None, timeout: float = DEFAULT_QUERY_TIMEOUT
    ) -> tuple[Series, ...]:
        return self.provider.query_series(promql, at=at, timeout=timeout)

    def query_range(
        self, promql: str, **window: float
    ) -> list[tuple[dict[str, str], tuple[tuple[float, float], ...]]]:
        self.ranges += 1
        return self.provider.query_range(promql, **window)

    def is_online(self) -> bool:
        return self.provider.is_online()


@pytest.fixture(scope="module")
def recorded(exporter: IstioExporter, provider: PrometheusProvider) -> None:
    """Three services' stable pods, a second at a time: 1,000 requests and 3 errors per pod
    and second; the bursting service's pod c fails 30 in seconds 5 to 7. Each pod's own
    series (``reporter="destination"``) and three callers' (``reporter="source"``), each
    caller getting a third of every pod's requests and errors; the callers-only service
    has no destination series (its sidecars' metrics are not scraped)."""
    for second in range(SECONDS):
        for name in SERVICES:
            errors = {
                pod: 30 if name == "bursting" and pod == "c" and 5 <= second < 8 else 3
                for pod in PODS
            }
            if name != "callers-only":
                for pod in PODS:
                    _serve(exporter, f"{name}-v1", pod, errors[pod], "destination")
            for caller in CALLERS:
                _serve(exporter, f"{name}-v1", caller, sum(errors.values()) // 3, "source")
        time.sleep(1.0)
    for name in SERVICES:
        wait_for_scrape(
            provider,
            f'sum(istio_requests_total{{reporter="source",destination_workload="{name}-v1"}})',
            1000.0 * SECONDS * len(CALLERS),
        )


def _serve(exporter: IstioExporter, workload: str, pod: str, errors: int, reporter: str) -> None:
    exporter.record(workload, pod=pod, requests=1000 - errors, reporter=reporter)
    exporter.record(workload, pod=pod, requests=errors, code="503", reporter=reporter)


def _first_tick(
    provider: CountingProvider, name: str, policies: tuple[RenderedPolicy, ...] = POLICIES
) -> tuple[MetricsAnalyzer, dict[str, Any]]:
    analyzer = MetricsAnalyzer(provider, look_back=LOOK_BACK, timeout=5.0)
    desired = Desired(shop_rollout(name), policies=policies)
    state = RolloutState(stable_version="v1", spec_hash="h1")
    _, analysis = analyzer.analyze(desired, state, time.time())
    assert analysis is not None
    return analyzer, analysis


def test_the_range_query_gives_each_pods_counter_at_each_step(
    recorded: None, provider: PrometheusProvider
) -> None:
    # the client sends whole seconds: end a second late, so the last scrape is in range
    now = time.time() + 1.0
    matrix = provider.query_range(
        'sum by (pod) (istio_requests_total{reporter="destination",'
        'destination_workload="agreeing-v1"})',
        start=now - LOOK_BACK.seconds,
        end=now,
        step=LOOK_BACK.step,
    )
    by_pod = {labels["pod"]: points for labels, points in matrix}
    assert set(by_pod) == set(PODS)
    for points in by_pod.values():
        values = [value for _, value in points]
        assert values == sorted(values)
        assert values[-1] == 1000.0 * SECONDS
        assert len(points) >= SECONDS


def test_the_first_tick_reads_stable_pods_that_agree_as_quiet(
    recorded: None, provider: PrometheusProvider
) -> None:
    counting = CountingProvider(provider)
    analyzer, analysis = _first_tick(counting, "agreeing")
    # the error policy and the slow-request policy: bad and total requests each
    assert counting.ranges == 4
    errors = AnalysisState.from_dict(analysis).policies["istio-error-ratio"]
    assert errors.history.pod_minutes >= 3 * (SECONDS // 2)
    assert errors.history.quiet, errors.history
    # stable's spread starts from the history: its requests are counted there
    assert errors.spread.sums[1] >= 1000.0 * 3 * (SECONDS // 2)
    desired = Desired(shop_rollout("agreeing"), policies=POLICIES)
    state = RolloutState(stable_version="v1", spec_hash="h1", analysis=analysis)
    _, later = analyzer.analyze(desired, state, time.time())
    assert counting.ranges == 4, "the look-back is read on the first tick only"
    assert later is not None
    kept = AnalysisState.from_dict(later).policies["istio-error-ratio"].history
    assert kept == errors.history


def test_a_pod_that_burst_before_the_rollout_is_seen(
    recorded: None, provider: PrometheusProvider
) -> None:
    _, analysis = _first_tick(CountingProvider(provider), "bursting")
    history = AnalysisState.from_dict(analysis).policies["istio-error-ratio"].history
    assert history.pod_minutes >= 3 * (SECONDS // 2)
    assert not history.quiet
    assert history.pod_variance > 2.0, history


def test_the_callers_series_alone_would_hide_the_burst(
    recorded: None, provider: PrometheusProvider
) -> None:
    # the same policies without their per-destination-pod queries read the callers, each of
    # which got a third of pod c's burst: stable's "pods" then look alike
    plain = tuple(
        policy.model_copy(
            update={"templates": {k: v for k, v in policy.templates.items() if "pod_" not in k}}
        )
        for policy in POLICIES
    )
    _, analysis = _first_tick(CountingProvider(provider), "bursting", plain)
    history = AnalysisState.from_dict(analysis).policies["istio-error-ratio"].history
    assert history.pod_minutes >= 3 * (SECONDS // 2)
    assert history.pod_variance < 0.25, history


def test_without_destination_series_the_look_back_reads_the_callers(
    recorded: None, provider: PrometheusProvider
) -> None:
    counting = CountingProvider(provider)
    _, analysis = _first_tick(counting, "callers-only")
    # per policy: the per-pod queries, empty, then the policy's own counters
    assert counting.ranges == 8
    history = AnalysisState.from_dict(analysis).policies["istio-error-ratio"].history
    assert history.pod_minutes >= 3 * (SECONDS // 2)
