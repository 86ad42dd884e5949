"""Fixtures for the local API server's tests: a ``CustomObjectsApi`` on the test's server
the ``kubectl`` command prefix for a long-running kubectl, and ``twins``: the stand-in and
the real server side by side for the differential tests (the server, its kubeconfig and a
``kubectl`` runner come from ``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes.client import ApiClient

from kubelite import LocalApiServer
from tests.kube_clients import CustomObjects, custom_objects, kubectl_binary
from tests.kube_servers import APISERVER_ENV, RealCluster, servers_for_cluster_tests


@pytest.fixture
def custom(api_client: ApiClient) -> CustomObjects:
    """``CustomObjectsApi`` on the test's server."""
    return custom_objects(api_client)


@pytest.fixture
def kubectl_command(kubeconfig: Path, tmp_path: Path) -> list[str]:
    """The kubectl command prefix, for tests that start a long-running kubectl."""
    return [kubectl_binary(), "--kubeconfig", str(kubeconfig), "--cache-dir", str(tmp_path / "kc")]


@pytest.fixture
def twins(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Path]]:
    """Admin kubeconfigs for a fresh stand-in and the real server (reset), by server name.

    Skipped, visibly, unless ``ROLLOUT_TEST_APISERVER`` selects the real server.
    """
    if "real" not in servers_for_cluster_tests():
        pytest.skip(f"the differential tests need {APISERVER_ENV}=real or both")
    cluster: RealCluster = request.getfixturevalue("real_control_plane")
    real = cluster.fresh()
    with LocalApiServer(port=0) as stand_in:
        yield {
            "stand-in": stand_in.write_kubeconfig(tmp_path / "stand-in.kubeconfig"),
            "real": real.write_kubeconfig(tmp_path / "real.kubeconfig"),
        }
