"""Recording rules from Envoy's statistics to Istio's standard metrics, in the real Prometheus.

Inputs are traffic through the real Envoy to a healthy v1 and a slow, failing v2; outputs
are the ``istio_requests_total`` and ``istio_request_duration_milliseconds_*`` series the
real Prometheus records (labels and counts compared with Envoy's own counters), and the
answers of the shipped policies' queries, used unchanged.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rollout.source.files import shipped_policies
from rollout.spec.policy import resolve
from rollout_local.demo.service import Behaviour, DemoService
from rollout_local.loadgen import LoadGenerator
from rollout_local.processes import envoy_config, recording_rules
from rollout_local.processes.envoy_proxy import EnvoyProxy
from rollout_local.processes.prometheus_server import PrometheusServer
from rollout_local.processes.recording_rules import IstioService
from tests.rollout_local.istio_objects import (
    HOST,
    NAMESPACE,
    destination_rule,
    virtual_service,
    weighted_route,
)

pytestmark = pytest.mark.slow

CHECKOUT = IstioService(name="checkout", namespace=NAMESPACE)


def query(prometheus: PrometheusServer, promql: str) -> list[dict[str, Any]]:
    encoded = urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(f"{prometheus.url}/api/v1/query?{encoded}", timeout=5) as answer:
        body = json.loads(answer.read())
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def eventually(check: Callable[[], bool], *, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout:.0f}s")
        time.sleep(0.5)


def envoy_time_buckets(proxy: EnvoyProxy, version: str) -> dict[float, int]:
    """Envoy's own histogram of ``version``'s request times: upper edge (ms) -> count."""
    cluster = envoy_config.cluster_name(HOST, version)
    found: dict[float, int] = {}
    for line in proxy.prometheus_stats().splitlines():
        if line.startswith("envoy_cluster_upstream_rq_time_bucket{") and (
            f'envoy_cluster_name="{cluster}"' in line
        ):
            edge = line.split('le="', 1)[1].split('"', 1)[0]
            found[float(edge)] = int(float(line.rsplit(" ", 1)[1]))
    assert found, f"Envoy exposes no request-time histogram for {cluster}"
    return found


def envoy_time_bucket(proxy: EnvoyProxy, version: str, le: str) -> int:
    """Envoy's own count of ``version``'s requests timed at or under ``le`` ms."""
    return envoy_time_buckets(proxy, version)[float(le)]


def quantile_bucket(proxy: EnvoyProxy, version: str, quantile: float) -> tuple[float, float]:
    """The bucket ``(lower, upper]`` that holds ``quantile`` of ``version``'s request times
    by Envoy's own histogram."""
    buckets = sorted(envoy_time_buckets(proxy, version).items())
    rank = quantile * buckets[-1][1]
    lower = 0.0
    for edge, count in buckets:
        if count >= rank:
            return lower, edge
        lower = edge
    raise AssertionError("unreachable: the +Inf bucket holds every request")


def test_the_rules_file_passes_promtool(tmp_path: Path) -> None:
    path = tmp_path / "istio.yml"
    path.write_text(recording_rules.rules_yaml([CHECKOUT], interval=1.0))
    checked = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=30
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "4 rules found" in checked.stdout


def test_the_workload_label_follows_the_deployment_template() -> None:
    service = IstioService(name="checkout", namespace="demo", workload="web-{service}-{version}")
    assert service.workload_replacement == "web-checkout-${1}"
    with pytest.raises(ValueError, match="version"):
        IstioService(name="checkout", namespace="demo", workload="checkout")
    with pytest.raises(ValueError, match="twice"):
        recording_rules.recording_rules([CHECKOUT, CHECKOUT])


@pytest.fixture(scope="module")
def traffic_and_prometheus() -> Iterator[tuple[EnvoyProxy, PrometheusServer]]:
    """50/50 traffic, v2 failing 10% and answering in 120 ms; Prometheus scraping Envoy.

    Shared by the module's tests: starting Prometheus and waiting for its first samples is
    the slow part, and the tests only read.
    """
    slow_and_failing = Behaviour(error_rate=0.1, latency_median_ms=120)
    with (
        DemoService(name="checkout", version="v1", seed=1) as stable,
        DemoService(name="checkout", version="v2", seed=2, behaviour=slow_and_failing) as canary,
        EnvoyProxy() as proxy,
    ):
        resources = envoy_config.translate(
            [virtual_service(weighted_route("primary", ("v1", 50), ("v2", 50)))],
            [destination_rule("v1", "v2")],
            {(HOST, "v1"): stable.address, (HOST, "v2"): canary.address},
        )
        proxy.update(resources.routes, resources.clusters)
        with PrometheusServer(
            scrape_configs=[recording_rules.envoy_scrape_config(proxy.admin_url)],
            scrape_interval=1.0,
            rule_files={"istio": recording_rules.rules_yaml([CHECKOUT], interval=1.0)},
        ) as prometheus:
            prometheus.wait_for_targets(timeout=20)
            load = LoadGenerator(url=proxy.url, host="checkout", rate=300, connections=32)
            report = load.run(requests=600, duration=10)
            assert report.completed == 600
            yield proxy, prometheus


def test_requests_are_recorded_as_istio_requests_total_with_envoys_counts(
    traffic_and_prometheus: tuple[EnvoyProxy, PrometheusServer],
) -> None:
    proxy, prometheus = traffic_and_prometheus
    expected: dict[tuple[str, str], int] = {}
    for version in ("v1", "v2"):
        cluster = envoy_config.cluster_name(HOST, version)
        for code in ("200", "500"):
            count = proxy.cluster_stat(cluster, f"upstream_rq_{code}")
            if count:
                expected[(f"checkout-{version}", code)] = count
    assert sum(expected.values()) == 600
    assert expected[("checkout-v2", "500")] > 0
    assert ("checkout-v1", "500") not in expected

    def recorded() -> dict[tuple[str, str], int]:
        series = query(prometheus, 'istio_requests_total{reporter="source"}')
        return {
            (s["metric"]["destination_workload"], s["metric"]["response_code"]): int(
                float(s["value"][1])
            )
            for s in series
        }

    eventually(lambda: recorded() == expected)
    series = query(prometheus, 'istio_requests_total{destination_workload="checkout-v2"}')
    labels = series[0]["metric"]
    assert labels["__name__"] == "istio_requests_total"
    assert labels["reporter"] == "source"
    assert labels["destination_workload_namespace"] == NAMESPACE
    assert labels["destination_service_name"] == "checkout"
    assert labels["destination_service"] == HOST
    assert labels["destination_version"] == "v2"
    assert labels["job"] == "envoy"
    assert not any(name.startswith("envoy_") for name in labels)


def test_latency_is_recorded_as_istios_duration_histogram(
    traffic_and_prometheus: tuple[EnvoyProxy, PrometheusServer],
) -> None:
    proxy, prometheus = traffic_and_prometheus
    canary_requests = proxy.cluster_stat(envoy_config.cluster_name(HOST, "v2"), "upstream_rq_total")
    selector = '{reporter="source",destination_workload="checkout-v2"}'

    def value(promql: str) -> float | None:
        result = query(prometheus, promql)
        return float(result[0]["value"][1]) if result else None

    eventually(
        lambda: value(f"istio_request_duration_milliseconds_count{selector}") == canary_requests
    )
    # bucket for bucket what Envoy timed (a loaded machine may push a 120 ms answer past
    # 250 ms: the rules must carry that as Envoy saw it)
    bucket = "istio_request_duration_milliseconds_bucket"
    for le in ("100", "250"):
        recorded = value(
            f'{bucket}{{reporter="source",destination_workload="checkout-v2",le="{le}"}}'
        )
        assert recorded == envoy_time_bucket(proxy, "v2", le)
    under_250 = envoy_time_bucket(proxy, "v2", "250") - envoy_time_bucket(proxy, "v2", "100")
    assert under_250 >= 0.9 * canary_requests  # the 120 ms canary, mostly in (100, 250]
    total_ms = value(f"istio_request_duration_milliseconds_sum{selector}")
    assert total_ms is not None
    assert 120 <= total_ms / canary_requests < 250


def test_the_shipped_policies_answer_unchanged(
    traffic_and_prometheus: tuple[EnvoyProxy, PrometheusServer],
) -> None:
    proxy, prometheus = traffic_and_prometheus
    policies = {policy.name: policy for policy in shipped_policies()}
    context = {"namespace": NAMESPACE, "window": "1m", "interval": "1m"}

    def answers(name: str, workload: str) -> dict[str, float]:
        rendered = resolve(policies[name], {})
        queries = rendered.queries_for({**context, "workload": workload})
        results = {field: query(prometheus, promql) for field, promql in queries.items()}
        return {field: float(r[0]["value"][1]) for field, r in results.items() if r}

    def canary_has_data() -> bool:
        return answers("istio-latency-p99", "checkout-v2").get("quantile", 0.0) > 0

    eventually(canary_has_data)
    eventually(lambda: answers("istio-error-ratio", "checkout-v2").get("errors", 0.0) > 0)
    errors = answers("istio-error-ratio", "checkout-v2")
    assert errors["total"] > 0
    assert 0.02 < errors["errors"] / errors["total"] < 0.3
    stable_errors = answers("istio-error-ratio", "checkout-v1")
    assert stable_errors["total"] > 0
    assert stable_errors.get("errors", 0.0) == 0.0
    # each p99 lands where Envoy's own histogram puts it: (100, 250] for the 120 ms canary
    # and under 1 ms for the stable, unless the machine stalled answers. The band runs from
    # the 98th to the 99.5th percentile's bucket, because the policy reads rate() over a
    # window, whose extrapolation shifts the buckets' shares slightly against Envoy's totals.
    for version in ("v1", "v2"):
        lower = quantile_bucket(proxy, version, 0.98)[0]
        upper = quantile_bucket(proxy, version, 0.995)[1]
        p99 = answers("istio-latency-p99", f"checkout-{version}")["quantile"]
        assert lower <= p99 <= upper, (version, p99, lower, upper)
    assert quantile_bucket(proxy, "v2", 0.98)[0] >= 100  # the slow canary does read slow
    over_250 = envoy_time_bucket(proxy, "v2", "+Inf") - envoy_time_bucket(proxy, "v2", "250")
    slow = answers("istio-slow-request-ratio", "checkout-v2")
    assert slow["total"] > 0
    assert slow["slow"] == over_250  # none, unless the machine stalled an answer
