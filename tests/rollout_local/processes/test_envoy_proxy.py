"""The real Envoy, driven by the translator: weights, errors and latency as Envoy counts them.

Inputs are VirtualService weights pushed with ``EnvoyProxy.update`` and demo services with a
given error rate or latency; outputs are Envoy's own per-cluster counters and histograms
(admin ``/stats`` and ``/stats/prometheus``), the demo services' counts, and the process
table after ``stop()``.
"""

from __future__ import annotations

import os
import re
import time

import pytest

from rollout_local.demo.service import Behaviour, DemoService
from rollout_local.loadgen import LoadGenerator
from rollout_local.processes import envoy_config
from rollout_local.processes.envoy_proxy import EnvoyError, EnvoyProxy
from tests.rollout_local.istio_objects import (
    HOST,
    destination_rule,
    virtual_service,
    weighted_route,
)

pytestmark = pytest.mark.slow

V1 = envoy_config.cluster_name(HOST, "v1")
V2 = envoy_config.cluster_name(HOST, "v2")


def apply_weights(
    proxy: EnvoyProxy, stable: DemoService, canary: DemoService, v1: int, v2: int
) -> None:
    resources = envoy_config.translate(
        [virtual_service(weighted_route("primary", ("v1", v1), ("v2", v2)))],
        [destination_rule("v1", "v2")],
        {(HOST, "v1"): stable.address, (HOST, "v2"): canary.address},
    )
    assert resources.warnings == []
    proxy.update(resources.routes, resources.clusters)


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize(("v1", "v2"), [(100, 0), (80, 20), (50, 50), (0, 100)])
def test_measured_shares_follow_the_weights(
    envoy_proxy: EnvoyProxy, stable: DemoService, canary: DemoService, v1: int, v2: int
) -> None:
    apply_weights(envoy_proxy, stable, canary, v1, v2)
    assert envoy_proxy.route_weights() == {"primary": {V1: v1, V2: v2}}
    before = {name: envoy_proxy.cluster_stat(name, "upstream_rq_total") for name in (V1, V2)}

    requests = 2_000
    # the duration only bounds a stuck run: on a loaded machine 2,000 requests take longer
    report = LoadGenerator(url=envoy_proxy.url, host="checkout", rate=1_000).run(
        requests=requests, duration=120
    )

    assert report.by_status == {200: requests}
    counted = {
        name: envoy_proxy.cluster_stat(name, "upstream_rq_total") - before[name]
        for name in (V1, V2)
    }
    assert sum(counted.values()) == requests
    assert abs(100 * counted[V2] / requests - v2) <= 5
    assert abs(100 * counted[V1] / requests - v1) <= 5
    assert stable.served == counted[V1]
    assert canary.served == counted[V2]


def test_weights_shift_live_on_one_running_proxy(
    envoy_proxy: EnvoyProxy, stable: DemoService, canary: DemoService
) -> None:
    apply_weights(envoy_proxy, stable, canary, 100, 0)
    load = LoadGenerator(url=envoy_proxy.url, host="checkout", rate=400).start(duration=10)
    try:
        for v2 in (0, 20, 50, 100, 0):
            started = time.monotonic()
            apply_weights(envoy_proxy, stable, canary, 100 - v2, v2)
            assert time.monotonic() - started < 2.0
            served_before = canary.served
            time.sleep(0.5)
            if v2 == 0:
                assert canary.served - served_before <= 2  # requests already in flight
            else:
                assert canary.served > served_before
    finally:
        report = load.stop()
    assert report.errors == 0
    assert set(report.by_status) == {200}


def test_a_failing_canary_shows_as_5xx_in_envoy_stats(
    envoy_proxy: EnvoyProxy, stable: DemoService, canary: DemoService
) -> None:
    canary.configure(Behaviour(error_rate=0.2))
    apply_weights(envoy_proxy, stable, canary, 50, 50)
    report = LoadGenerator(url=envoy_proxy.url, host="checkout", rate=1_000).run(
        requests=1_000, duration=10
    )
    served_errors = canary.counts().get(500, 0)
    assert 50 < served_errors < 150
    assert report.by_status.get(500) == served_errors
    assert envoy_proxy.cluster_stat(V2, "upstream_rq_5xx") == served_errors
    assert envoy_proxy.cluster_stat(V2, "upstream_rq_500") == served_errors
    assert envoy_proxy.cluster_stat(V1, "upstream_rq_5xx") == 0
    exposition = envoy_proxy.prometheus_stats()
    pattern = (
        r'envoy_cluster_upstream_rq\{envoy_response_code="500",'
        r'envoy_cluster_name="' + re.escape(V2) + r'"\} (\d+)'
    )
    match = re.search(pattern, exposition)
    assert match is not None, "Istio-style cluster names must stay whole in the Prometheus stats"
    assert int(match.group(1)) == served_errors


def test_latency_shows_in_the_upstream_histogram(
    envoy_proxy: EnvoyProxy, stable: DemoService, canary: DemoService
) -> None:
    canary.configure(Behaviour(latency_median_ms=120))
    apply_weights(envoy_proxy, stable, canary, 0, 100)
    requests = 40
    report = LoadGenerator(url=envoy_proxy.url, host="checkout", rate=100, connections=16).run(
        requests=requests, duration=10
    )
    assert report.by_status == {200: requests}

    def bucket(le: str) -> int | None:
        pattern = (
            r"envoy_cluster_upstream_rq_time_bucket\{envoy_cluster_name="
            + re.escape(f'"{V2}",le="{le}"')
            + r"\} (\d+)"
        )
        found = re.search(pattern, envoy_proxy.prometheus_stats())
        return int(found.group(1)) if found else None

    deadline = time.monotonic() + 5  # histograms are merged at each stats flush (1 s)
    while bucket("+Inf") != requests and time.monotonic() < deadline:
        time.sleep(0.2)
    assert bucket("+Inf") == requests
    assert bucket("100") == 0
    assert bucket("250") == requests


def test_a_rejected_config_raises_with_the_log(envoy_proxy: EnvoyProxy) -> None:
    bad_cluster = {"@type": envoy_config.CLUSTER_TYPE, "name": "bad", "connect_timeout": "-1s"}
    routes = {"@type": envoy_config.ROUTE_TYPE, "name": envoy_config.ROUTE_CONFIG_NAME}
    with pytest.raises(EnvoyError, match=r"(?s)rejected version 1.*Expected positive duration"):
        envoy_proxy.update(routes, [bad_cluster], timeout=5)
    assert envoy_proxy.stats("cluster_manager.cds")["cluster_manager.cds.version_text"] == '"0"'


def test_several_proxies_run_side_by_side_and_stop_leaves_no_process(
    stable: DemoService, canary: DemoService
) -> None:
    with EnvoyProxy() as first, EnvoyProxy() as second:
        assert first.port != second.port
        apply_weights(first, stable, canary, 100, 0)
        apply_weights(second, stable, canary, 0, 100)
        LoadGenerator(url=first.url, host="checkout", rate=200).run(requests=20, duration=5)
        LoadGenerator(url=second.url, host=HOST, rate=200).run(requests=30, duration=5)
        assert stable.served == 20
        assert canary.served == 30
        pids = [first.pid, second.pid]
        workdirs = [first.workdir, second.workdir]
        assert first.log_path.exists()
    assert all(pid is not None and not process_exists(pid) for pid in pids)
    assert not any(path.exists() for path in workdirs)
