"""The two Kubernetes API servers the tests run against, and what every test needs of them.

Helpers, not fixtures (the fixtures are in ``tests/conftest.py``). Two servers can answer:
the project's stand-in (:class:`kubelite.LocalApiServer`, a fresh one per test, milliseconds
to start) and the real etcd + kube-apiserver
(:class:`rollout_local.processes.kube_control_plane.KubeControlPlane`, built from Go modules,
one per session, reset to its baseline before each test: :class:`RealCluster`). Tests
marked ``@pytest.mark.cluster`` (the cluster-facing ones) run against the server(s) named
by the environment variable ``ROLLOUT_TEST_APISERVER``: ``stand-in`` (the default), ``real``
(what ``scripts/test`` and CI use) or ``both``; their ids say which (``test_x[real]``).

Both servers offer ``url``, ``port``, ``write_kubeconfig``, ``requests`` and
``clear_requests`` (the real one reads its request log from its audit log). A real server
refuses objects in a namespace that does not exist and serves a new CRD only once it is
Established: :func:`create_namespaces` and :func:`install_crd` do what a user would.
"""

from __future__ import annotations

import os
import time
from typing import Any

import kubernetes
import pytest

from kubelite import LocalApiServer
from kubelite.builtin_crds import BUILTIN_CRDS
from rollout_local.processes.kube_control_plane import KubeControlPlane
from rollout_local.processes.kube_reset import ClusterBaseline
from tests.kube_clients import as_body

__all__ = [
    "APISERVER_ENV",
    "ApiServer",
    "RealCluster",
    "create_namespaces",
    "install_crd",
    "servers_for_cluster_tests",
    "wait_for_crd",
]

APISERVER_ENV = "ROLLOUT_TEST_APISERVER"
_CHOICES = {"stand-in": ["stand-in"], "real": ["real"], "both": ["stand-in", "real"]}
ApiServer = LocalApiServer | KubeControlPlane


def servers_for_cluster_tests() -> list[str]:
    """Which servers a ``cluster`` test runs against, from ``ROLLOUT_TEST_APISERVER``."""
    value = os.environ.get(APISERVER_ENV, "stand-in")
    if value not in _CHOICES:
        raise pytest.UsageError(f"{APISERVER_ENV}={value!r}: expected one of {sorted(_CHOICES)}")
    return _CHOICES[value]


def create_namespaces(api: kubernetes.client.ApiClient, *names: str) -> None:
    """Create namespaces (a server refuses objects in a namespace that does not exist)."""
    core = kubernetes.client.CoreV1Api(api)
    for name in names:
        core.create_namespace(as_body({"metadata": {"name": name}}))


def wait_for_crd(api: kubernetes.client.ApiClient, name: str, *, timeout: float = 30.0) -> None:
    """Wait until the CRD ``name`` is Established: a real server serves it only then."""
    extensions = kubernetes.client.ApiextensionsV1Api(api)
    deadline = time.monotonic() + timeout
    while True:
        crd = extensions.read_custom_resource_definition(name)
        conditions = (crd.status.conditions if crd.status else None) or []
        if any(c.type == "Established" and c.status == "True" for c in conditions):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"CRD {name} not Established after {timeout:.0f}s")
        time.sleep(0.05)


def install_crd(api: kubernetes.client.ApiClient, document: dict[str, Any]) -> dict[str, Any]:
    """Create a CRD and wait until it is served; returns it as the server stored it."""
    extensions = kubernetes.client.ApiextensionsV1Api(api)
    extensions.create_custom_resource_definition(as_body(document))
    wait_for_crd(api, document["metadata"]["name"])
    stored: dict[str, Any] = api.sanitize_for_serialization(
        extensions.read_custom_resource_definition(document["metadata"]["name"])
    )
    return stored


class RealCluster:
    """The session's real control plane, with the Istio CRDs, and the baseline each test
    starts from (:meth:`fresh` deletes everything a test made)."""

    def __init__(self, plane: KubeControlPlane) -> None:
        self.plane = plane
        plane.install_crds(BUILTIN_CRDS)
        self.baseline = ClusterBaseline(plane.url, plane.admin_ssl_context())
        self.baseline.remember()

    def fresh(self) -> KubeControlPlane:
        """The control plane as it was at the start of the session, request log cleared."""
        self.baseline.reset()
        self.plane.clear_requests()
        return self.plane
