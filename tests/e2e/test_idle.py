"""A rollout with nothing under way costs nothing until something changes.

The controller runs in-process against the local API server with the app installed and a
spec adopted (v1 stable, analysis interval 1 s). Outputs under test: while idle, it makes
no request but its Lease's and runs the rollout no more (the slow resync is minutes away);
a person's command (an annotation the watch delivers) runs it at once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import kubernetes
import pytest

from kubelite import LocalApiServer
from rollout.controller import Controller, ControllerSettings
from rollout.kube.store import KubeStateStore
from rollout.metrics.prometheus import PrometheusSettings
from rollout_local.processes.prometheus_server import PrometheusServer
from tests.e2e.world import SpecRepo, rollout_status, wait_for

pytestmark = pytest.mark.slow
KEY = "shop/checkout"


@pytest.fixture
def controller(
    kubeconfig: Path,
    prometheus: PrometheusServer,
    spec_repo: SpecRepo,
    tmp_path: Path,
    app: kubernetes.client.ApiClient,
) -> Iterator[Controller]:
    spec_repo.push("v1")
    settings = ControllerSettings(
        prometheus=PrometheusSettings(url=prometheus.url),
        git_url=spec_repo.url,
        cache_dir=tmp_path / "cache",
        poll_interval=3600,
        kubeconfig=str(kubeconfig),
        listen_host="127.0.0.1",
        listen_port=0,
        lease_namespace="rollout-system",
        identity="idle-controller",
    )
    running = Controller(settings)
    running.start()
    yield running
    running.stop()


def test_an_idle_rollout_makes_no_requests_until_a_command_wakes_it(
    controller: Controller,
    app: kubernetes.client.ApiClient,
    apiserver: LocalApiServer,
    api_client: kubernetes.client.ApiClient,
) -> None:
    wait_for(
        lambda: rollout_status(app).get("stableVersion") == "v1", timeout=30, what="v1 adopted"
    )
    time.sleep(2.0)  # the adopting runs are over
    runs = controller.scheduler.runs(KEY)
    apiserver.clear_requests()
    time.sleep(5.0)  # five analysis intervals
    mine = [
        r
        for r in apiserver.requests
        if r.user_agent.startswith("rollout-controller/") and r.resource != "leases"
    ]
    assert mine == []
    assert controller.scheduler.runs(KEY) == runs
    # from a client of her own, as `rollout abort` runs: the controller's cache has not seen
    # the write, so only the watch event can wake the rollout
    person = KubeStateStore(api_client)
    person.request_command("shop", "checkout", "abort", by="alice")
    wait_for(lambda: controller.scheduler.runs(KEY) > runs, timeout=10, what="a run")
