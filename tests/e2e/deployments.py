"""A stand-in for the Deployment controller and the kubelet, for tests with managed versions.

Neither test server runs kube-controller-manager, so a Deployment the controller makes
would never become ready. ``ReadyDeployments`` watches the Deployments of one namespace
(by polling, through its own admin client, so its requests are not the controller's) and
writes each one's status as the Deployment controller would once every pod is ready:
``observedGeneration`` and ``replicas``, ``updatedReplicas``, ``readyReplicas`` and
``availableReplicas`` equal to ``spec.replicas``.
"""

from __future__ import annotations

import threading
from typing import Any

import kubernetes

__all__ = ["ReadyDeployments"]


class ReadyDeployments:
    """Keeps every Deployment in ``namespace`` ready at its wanted replicas, until stopped."""

    def __init__(self, api: kubernetes.client.ApiClient, namespace: str) -> None:
        self._apps = kubernetes.client.AppsV1Api(api)
        self._namespace = namespace
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ready-deployments", daemon=True)

    def __enter__(self) -> ReadyDeployments:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            try:
                self.settle()
            except kubernetes.client.ApiException:
                continue  # a conflict or a deleted object: the next round sees the new one

    def settle(self) -> None:
        """One round: every Deployment whose status is behind its spec is brought level."""
        listed = self._apps.list_namespaced_deployment(self._namespace)
        for deployment in listed.items:
            metadata, spec = deployment.metadata, deployment.spec
            assert metadata is not None and metadata.name is not None and spec is not None
            wanted = 1 if spec.replicas is None else spec.replicas
            status: dict[str, Any] = {
                "observedGeneration": metadata.generation,
                "replicas": wanted,
                "updatedReplicas": wanted,
                "readyReplicas": wanted,
                "availableReplicas": wanted,
            }
            current = deployment.status
            seen = (
                (current.observed_generation, current.ready_replicas or 0, current.replicas or 0)
                if current is not None
                else None
            )
            if seen == (metadata.generation, wanted, wanted):
                continue
            self._apps.patch_namespaced_deployment_status(
                metadata.name, self._namespace, {"status": status}
            )
