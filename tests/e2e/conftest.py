"""The controller the end-to-end tests of bad input share: it polls the spec repository
every half second (v1 pushed first), with no leader election."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import kubernetes
import pytest

from rollout.controller import Controller, ControllerSettings
from rollout.metrics.prometheus import PrometheusSettings
from rollout_local.processes.prometheus_server import PrometheusServer
from tests.e2e.world import SpecRepo


@pytest.fixture
def polling_controller(
    kubeconfig: Path,
    prometheus: PrometheusServer,
    spec_repo: SpecRepo,
    tmp_path: Path,
    app: kubernetes.client.ApiClient,
) -> Iterator[Controller]:
    spec_repo.push("v1")
    running = Controller(
        ControllerSettings(
            prometheus=PrometheusSettings(url=prometheus.url),
            git_url=spec_repo.url,
            cache_dir=tmp_path / "cache",
            poll_interval=0.5,
            kubeconfig=str(kubeconfig),
            listen_host="127.0.0.1",
            listen_port=0,
            leader_election=False,
        )
    )
    running.start()
    yield running
    running.stop()
