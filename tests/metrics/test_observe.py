"""observe(): the shipped policies rendered for a rollout and run against real Prometheus.

Inputs are a Rollout spec, the shipped policies and the exporter's counters; outputs are
the rendered queries and the readings per version and field, failures included.
"""

from __future__ import annotations

import pytest

from rollout.analysis.observations import ReadingProblem
from rollout.metrics.observe import observe, template_context
from rollout.metrics.prometheus import PrometheusProvider, PrometheusSettings
from rollout.source.files import shipped_policies
from rollout.spec.policy import resolve
from rollout.spec.rollout import Rollout
from tests.metrics.exporter import IstioExporter
from tests.metrics.stack import wait_for_scrape

pytestmark = pytest.mark.slow

ROLLOUT = Rollout.model_validate(
    {
        "metadata": {"name": "observe", "namespace": "shop"},
        "spec": {
            "version": "v2",
            "traffic": {
                "host": "observe.shop.svc.cluster.local",
                "virtualServices": [{"name": "observe"}],
                "destinationRule": "observe",
            },
        },
    }
)
POLICIES = [resolve(policy, {}) for policy in shipped_policies()]


def test_template_context_holds_every_builtin_placeholder() -> None:
    context = template_context(ROLLOUT, "v2", window="2m")
    assert context == {
        "namespace": "shop",
        "service": "observe",
        "workload": "observe-v2",
        "version": "v2",
        "subset": "v2",
        "window": "2m",
        "interval": "5s",
    }
    queries = POLICIES[0].queries_for(context)
    assert 'destination_workload="observe-v2"' in queries["total"]
    assert 'destination_workload_namespace="shop"' in queries["total"]


def test_observe_reads_every_policy_for_both_versions(
    exporter: IstioExporter, provider: PrometheusProvider
) -> None:
    exporter.record("observe-v1", requests=500, duration_ms=40)
    exporter.record("observe-v2", requests=30, duration_ms=40)
    exporter.record("observe-v2", requests=3, code="500", duration_ms=400)
    wait_for_scrape(provider, 'sum(istio_requests_total{destination_workload="observe-v2"})', 33)
    observed = observe(
        POLICIES,
        provider,
        canary=template_context(ROLLOUT, "v2", window="30s"),
        stable=template_context(ROLLOUT, "v1", window="30s"),
    )
    errors = observed["istio-error-ratio"]
    assert errors.canary["errors"].series == {"": 3.0}
    assert errors.canary["total"].series == {"": 33.0}
    assert errors.stable["errors"].series == {"": 0.0}, "or on() vector(0): zero, not no data"
    slow = observed["istio-slow-request-ratio"]
    assert slow.canary["slow"].series == {"": 3.0}
    assert slow.stable["slow"].series == {"": 0.0}
    assert set(observed["istio-latency-p99"].canary) == {"quantile"}


def test_failures_are_observations_not_exceptions(provider: PrometheusProvider) -> None:
    silent = observe(
        POLICIES,
        provider,
        canary=template_context(ROLLOUT, "v9"),
        stable=None,
    )
    assert silent["istio-error-ratio"].canary["total"].series == {}
    assert silent["istio-error-ratio"].stable == {}
    p99 = silent["istio-latency-p99"].canary["quantile"]
    assert p99.problem is ReadingProblem.NO_DATA
    closed = PrometheusProvider(PrometheusSettings(url="http://127.0.0.1:9"))
    down = observe(POLICIES, closed, canary=template_context(ROLLOUT, "v2"), stable=None)
    problems = {r.problem for o in down.values() for r in o.canary.values()}
    assert problems == {ReadingProblem.UNREACHABLE}
