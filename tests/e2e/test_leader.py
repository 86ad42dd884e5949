"""Two controller replicas against one cluster: only the leader writes.

Both run in this process as ``rollout run`` builds them, each with its own identity (which
the local API server's request log records from the User-Agent). While one holds the Lease
every write to a Rollout, VirtualService or Event comes from it; when it stops, the other
takes over and carries the next rollout through.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import kubernetes
import pytest

from rollout.controller import Controller, ControllerSettings
from rollout.metrics.prometheus import PrometheusSettings
from rollout_local.processes.prometheus_server import PrometheusServer
from tests.e2e.world import SpecRepo, TrafficSimulator, rollout_status, wait_for
from tests.kube_servers import ApiServer

pytestmark = [pytest.mark.slow, pytest.mark.cluster]
WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def make(
    identity: str, kubeconfig: Path, prometheus: PrometheusServer, repo: SpecRepo, cache: Path
) -> Controller:
    return Controller(
        ControllerSettings(
            prometheus=PrometheusSettings(url=prometheus.url),
            git_url=repo.url,
            cache_dir=cache,
            poll_interval=0.5,
            kubeconfig=str(kubeconfig),
            listen_host="127.0.0.1",
            listen_port=0,
            identity=identity,
        )
    )


@pytest.fixture
def replicas(
    kubeconfig: Path,
    prometheus: PrometheusServer,
    spec_repo: SpecRepo,
    tmp_path: Path,
    app: kubernetes.client.ApiClient,
) -> Iterator[tuple[Controller, Controller]]:
    spec_repo.push("v1")
    first = make("replica-a", kubeconfig, prometheus, spec_repo, tmp_path / "a")
    second = make("replica-b", kubeconfig, prometheus, spec_repo, tmp_path / "b")
    first.start()
    wait_for(lambda: first.is_leader, timeout=20, what="replica-a leading")
    second.start()
    yield first, second
    second.stop()
    first.stop()


def writers(apiserver: ApiServer) -> set[str]:
    """The identities that wrote anything but the Lease since the log was cleared."""
    found = set()
    for record in apiserver.requests:
        if (
            record.method in WRITES
            and record.resource != "leases"
            and "rollout-controller" in record.user_agent
        ):
            found.add(record.user_agent.split("(")[-1].rstrip(")"))
    return found


def test_only_the_leader_writes_and_the_other_takes_over(
    replicas: tuple[Controller, Controller],
    apiserver: ApiServer,
    app: kubernetes.client.ApiClient,
    spec_repo: SpecRepo,
    traffic: TrafficSimulator,
) -> None:
    first, second = replicas
    wait_for(
        lambda: rollout_status(app).get("stableVersion") == "v1", timeout=30, what="v1 adopted"
    )
    apiserver.clear_requests()
    spec_repo.push("v2")
    wait_for(
        lambda: rollout_status(app).get("stableVersion") == "v2", timeout=90, what="v2 promoted"
    )
    assert first.is_leader and not second.is_leader
    assert writers(apiserver) == {"replica-a"}

    first.stop()
    wait_for(lambda: second.is_leader, timeout=30, what="replica-b taking over")
    apiserver.clear_requests()
    spec_repo.push("v3")
    wait_for(
        lambda: rollout_status(app).get("stableVersion") == "v3", timeout=90, what="v3 promoted"
    )
    assert writers(apiserver) == {"replica-b"}
