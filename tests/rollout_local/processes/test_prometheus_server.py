"""The local Prometheus runner: start, scrape, reload rule files, refuse a bad config, stop.

Inputs are scrape configs and rule files as the runner's callers give them; outputs are what
the real Prometheus answers over HTTP and whether its process is gone after ``stop()``.
"""

from __future__ import annotations

import json
import os
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from rollout_local.processes.prometheus_server import PrometheusServer, PrometheusServerError
from tests.metrics.exporter import IstioExporter

pytestmark = pytest.mark.slow


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def _instant(prometheus: PrometheusServer, query: str) -> list[dict[str, Any]]:
    encoded = urllib.parse.urlencode({"query": query})
    result: list[dict[str, Any]] = _get(f"{prometheus.url}/api/v1/query?{encoded}")["data"][
        "result"
    ]
    return result


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); it must have been reaped, so check /proc
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture
def exporter() -> Iterator[IstioExporter]:
    with IstioExporter() as running:
        yield running


def test_scrapes_reloads_and_stops_without_orphans(exporter: IstioExporter) -> None:
    exporter.record("checkout-v1", requests=7)
    server = PrometheusServer(scrape_configs=[exporter.scrape_config()], scrape_interval=1.0)
    with server as prometheus:
        assert prometheus.url.startswith("http://127.0.0.1:")
        assert _get(prometheus.url + "/api/v1/status/buildinfo")["status"] == "success"
        prometheus.wait_for_targets()
        rows = _instant(prometheus, 'istio_requests_total{destination_workload="checkout-v1"}')
        assert [row["value"][1] for row in rows] == ["7"]

        rule = "groups:\n- name: t\n  rules:\n  - record: job:up:sum\n    expr: sum(up)\n"
        prometheus.update(rule_files={"recording": rule})
        groups = _get(prometheus.url + "/api/v1/rules")["data"]["groups"]
        assert [g["rules"][0]["name"] for g in groups] == ["job:up:sum"]

        with pytest.raises(PrometheusServerError, match="reload failed"):
            prometheus.update(rule_files={"broken": "groups: [{name: x, rules: [{expr: 1}]}]"})
        pid = prometheus.pid
        workdir = prometheus.workdir
        assert prometheus.log_path.read_text()
    assert pid is not None
    assert not _process_exists(pid)
    assert not workdir.exists()
    assert not server.running


def test_a_bad_config_fails_to_start_with_the_log(tmp_path: Any) -> None:
    server = PrometheusServer(
        scrape_configs=[{"job_name": "x", "static_configs": "not a list"}], workdir=tmp_path
    )
    with pytest.raises(PrometheusServerError, match="exited with code"):
        server.start()
    assert not server.running
    assert "cannot unmarshal" in (tmp_path / "prometheus.log").read_text()
    server.stop()
    assert tmp_path.exists(), "a workdir given by the caller is kept"
