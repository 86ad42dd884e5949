"""Is a version's Deployment ready to take traffic?

The controller shifts no traffic to a canary until its Deployment is Available in the
sense ``kubectl rollout status`` uses: the Deployment controller has observed the latest
spec (``status.observedGeneration >= metadata.generation``) and every desired replica is
updated, available and ready. The answer carries a message a person can read in
``rollout status`` ("2/3 replicas available", "deployment checkout-v2 not found").
"""

from __future__ import annotations

from typing import Any

from kubernetes import client as k8s_client

from rollout.errors import NotFound
from rollout.kubeapi import errors
from rollout.kubeapi.client import REQUEST_TIMEOUT, as_json
from rollout.kubeapi.object_cache import ObjectCache
from rollout.ports import Readiness

__all__ = ["DeploymentReadiness", "deployment_readiness", "readiness_of"]


def deployment_readiness(api: k8s_client.ApiClient, namespace: str, name: str) -> Readiness:
    """Read the Deployment ``namespace/name`` and judge it; a missing one is not ready."""
    apps = k8s_client.AppsV1Api(api)
    try:
        with errors.translated(f"reading deployment {namespace}/{name}"):
            deployment = apps.read_namespaced_deployment(
                name, namespace, _request_timeout=REQUEST_TIMEOUT
            )
    except NotFound:
        return Readiness(False, f"deployment {name} not found in namespace {namespace}")
    return readiness_of(as_json(api, deployment))


def readiness_of(deployment: dict[str, Any]) -> Readiness:
    """Judge a Deployment object (as JSON); pure."""
    metadata = deployment.get("metadata") or {}
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    name = metadata.get("name", "?")
    generation = int(metadata.get("generation") or 0)
    observed = int(status.get("observedGeneration") or 0)
    desired = spec.get("replicas")
    desired = 1 if desired is None else int(desired)
    updated = int(status.get("updatedReplicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    ready = int(status.get("readyReplicas") or 0)

    deadline = _progress_deadline_exceeded(status)
    if deadline:
        return Readiness(False, f"deployment {name}: {deadline}")
    if observed < generation:
        return Readiness(
            False,
            f"deployment {name}: waiting for the deployment controller to observe "
            f"generation {generation} (observed {observed})",
        )
    if desired == 0:
        return Readiness(False, f"deployment {name} is scaled to 0 replicas")
    if updated < desired:
        return Readiness(False, f"deployment {name}: {updated}/{desired} replicas updated")
    if available < desired:
        return Readiness(False, f"deployment {name}: {available}/{desired} replicas available")
    if ready < desired:
        return Readiness(False, f"deployment {name}: {ready}/{desired} replicas ready")
    return Readiness(True, f"deployment {name}: {available}/{desired} replicas available")


def _progress_deadline_exceeded(status: dict[str, Any]) -> str | None:
    for condition in status.get("conditions") or []:
        if (
            isinstance(condition, dict)
            and condition.get("type") == "Progressing"
            and condition.get("status") == "False"
            and condition.get("reason") == "ProgressDeadlineExceeded"
        ):
            return str(condition.get("message") or "progress deadline exceeded")
    return None


class DeploymentReadiness:
    """The coordinator's readiness probe (:class:`rollout.ports.ReadinessProbe`)."""

    def __init__(self, api: k8s_client.ApiClient) -> None:
        self._api = api
        self.cache = ObjectCache("deployments")

    def start_cache(self) -> None:
        """Read Deployments from a list+watch cache (all namespaces) until ``stop_cache``."""
        self.cache.start(k8s_client.AppsV1Api(self._api).list_deployment_for_all_namespaces)

    def stop_cache(self) -> None:
        self.cache.stop()

    def readiness(self, namespace: str, deployment: str) -> Readiness:
        known, cached = self.cache.lookup(namespace, deployment)
        if not known:
            return deployment_readiness(self._api, namespace, deployment)
        if cached is None:
            return Readiness(False, f"deployment {deployment} not found in namespace {namespace}")
        return readiness_of(cached)
