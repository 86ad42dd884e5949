"""Managed versions' Deployments: made from the rollout's template, scaled through the
``scale`` subresource (the ``Workloads`` port).

A version's Deployment is the template's spec with the version's image in the chosen
container, a ``version`` label on the Deployment, its selector and its pods (so the
DestinationRule subset ``version: <v>`` finds them, and two versions never select each
other's pods), and an ownerReference to the Rollout, so deleting the Rollout lets the
garbage collector remove what it made. Reads come from the Deployments' list+watch cache
the readiness probe keeps (a GET only while it is not running); writes are a create and
merge patches of ``deployments/scale``.

A rollout's HorizontalPodAutoscaler (``managed.autoscaler``) is read from a list+watch
cache of its own, and its ``scaleTargetRef`` moved by a JSON patch guarded by a ``test``
of the target it had: an HPA someone changed meanwhile is a ``Conflict``, not overwritten.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import Any, cast

from kubernetes import client as k8s_client

from rollout import GROUP_VERSION
from rollout.errors import ClusterError, Conflict, NotFound
from rollout.kubeapi import errors
from rollout.kubeapi.client import REQUEST_TIMEOUT, as_json
from rollout.kubeapi.object_cache import ObjectCache
from rollout.spec.managed import Managed, render_image
from rollout.spec.rollout import Rollout
from rollout.version_ports import Replicas

__all__ = ["JSON_PATCH", "VERSION_LABEL", "KubeWorkloads", "retarget_patch", "version_deployment"]

log = logging.getLogger("rollout.kube.workloads")

JsonObject = dict[str, Any]
VERSION_LABEL = "version"
JSON_PATCH = "application/json-patch+json"


def retarget_patch(current: JsonObject, deployment: str) -> list[JsonObject]:
    """The JSON patch that points an HPA whose ``scaleTargetRef`` is ``current`` at the
    Deployment ``deployment``; pure."""
    return [
        {"op": "test", "path": "/spec/scaleTargetRef", "value": current},
        {
            "op": "replace",
            "path": "/spec/scaleTargetRef",
            "value": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment},
        },
    ]


def _target_of(autoscaler: JsonObject) -> JsonObject:
    ref: JsonObject = (autoscaler.get("spec") or {}).get("scaleTargetRef") or {}
    return ref


def version_deployment(
    template: JsonObject, rollout: Rollout, version: str, *, owner_uid: str, replicas: int
) -> JsonObject:
    """The Deployment of ``version``, made from the ``template`` Deployment (as JSON); pure.

    ``ClusterError`` when the template has no container of the name the spec gives.
    """
    managed = rollout.spec.workload.managed
    assert managed is not None
    name = rollout.deployment_for(version)
    spec = copy.deepcopy(template.get("spec") or {})
    pod = spec.setdefault("template", {})
    pod_meta = pod.setdefault("metadata", {})
    pod_meta["labels"] = {**(pod_meta.get("labels") or {}), VERSION_LABEL: version}
    selector = spec.setdefault("selector", {})
    selector["matchLabels"] = {**(selector.get("matchLabels") or {}), VERSION_LABEL: version}
    _set_image(pod.setdefault("spec", {}), managed, version, template_name=managed.template)
    spec["replicas"] = replicas
    labels = {**((template.get("metadata") or {}).get("labels") or {}), VERSION_LABEL: version}
    owner = {
        "apiVersion": GROUP_VERSION,
        "kind": "Rollout",
        "name": rollout.name,
        "uid": owner_uid,
        "controller": True,
        "blockOwnerDeletion": False,
    }
    metadata: JsonObject = {"name": name, "namespace": rollout.namespace, "labels": labels}
    if owner_uid:
        metadata["ownerReferences"] = [owner]
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata, "spec": spec}


def _set_image(pod_spec: JsonObject, managed: Managed, version: str, *, template_name: str) -> None:
    containers = pod_spec.get("containers") or []
    wanted = managed.container
    chosen = next(
        (c for c in containers if wanted is None or c.get("name") == wanted),
        None,
    )
    if chosen is None:
        what = f"no container {wanted!r}" if wanted else "no container"
        raise ClusterError(f"template deployment {template_name} has {what}")
    chosen["image"] = render_image(managed.image, version)


class KubeWorkloads:
    """The coordinator's ``Workloads`` port on the Kubernetes API."""

    def __init__(self, api: k8s_client.ApiClient, cache: ObjectCache) -> None:
        self._api = api
        self._apps = k8s_client.AppsV1Api(api)
        self._autoscaling = k8s_client.AutoscalingV2Api(api)
        self._cache = cache
        self.autoscalers = ObjectCache("horizontalpodautoscalers")

    def start_cache(self) -> None:
        """Read HorizontalPodAutoscalers from a list+watch cache until ``stop_cache``."""
        self.autoscalers.start(self._autoscaling.list_horizontal_pod_autoscaler_for_all_namespaces)

    def stop_cache(self) -> None:
        self.autoscalers.stop()

    def ensure(self, rollout: Rollout, version: str, *, owner_uid: str, replicas: int) -> None:
        managed = rollout.spec.workload.managed
        assert managed is not None
        namespace = rollout.namespace
        if self._read(namespace, rollout.deployment_for(version)) is not None:
            return
        template = self._read(namespace, managed.template)
        if template is None:
            raise NotFound(f"template deployment {managed.template} not found in {namespace}")
        body = version_deployment(
            template, rollout, version, owner_uid=owner_uid, replicas=replicas
        )
        try:
            with errors.translated(f"creating deployment {namespace}/{body['metadata']['name']}"):
                self._apps.create_namespaced_deployment(
                    namespace, cast(Any, body), _request_timeout=REQUEST_TIMEOUT
                )
        except Conflict:
            return  # made meanwhile (by us, before a restart, or by hand): it is there

    def replicas(self, namespace: str, deployment: str) -> Replicas | None:
        found = self._read(namespace, deployment)
        if found is None:
            return None
        wanted = (found.get("spec") or {}).get("replicas")
        ready = int((found.get("status") or {}).get("readyReplicas") or 0)
        return Replicas(wanted=1 if wanted is None else int(wanted), ready=ready)

    def scale(self, namespace: str, deployment: str, replicas: int) -> None:
        current = self.replicas(namespace, deployment)
        if current is None or current.wanted == replicas:
            return
        try:
            with errors.translated(f"scaling deployment {namespace}/{deployment} to {replicas}"):
                self._apps.patch_namespaced_deployment_scale(
                    deployment,
                    namespace,
                    {"spec": {"replicas": replicas}},
                    _request_timeout=REQUEST_TIMEOUT,
                )
        except ClusterError as error:
            log.warning("%s", error)
            raise

    def autoscaler_target(self, namespace: str, autoscaler: str) -> str | None:
        found = self._read_autoscaler(namespace, autoscaler)
        if found is None:
            return None
        ref = _target_of(found)
        return str(ref.get("name") or "") if ref.get("kind") == "Deployment" else ""

    def retarget(self, namespace: str, autoscaler: str, *, current: str, deployment: str) -> None:
        label = f"HorizontalPodAutoscaler {namespace}/{autoscaler}"
        found = self._read_autoscaler(namespace, autoscaler)
        if found is None:
            raise NotFound(f"{label} not found")
        ref = _target_of(found)
        if (ref.get("name") or "") != current:
            raise Conflict(f"{label} targets {ref.get('name')!r}, not {current!r}")
        try:
            with errors.translated(f"pointing {label} at deployment {deployment}"):
                patched = self._autoscaling.patch_namespaced_horizontal_pod_autoscaler(
                    autoscaler,
                    namespace,
                    retarget_patch(ref, deployment),
                    _content_type=JSON_PATCH,
                    _request_timeout=REQUEST_TIMEOUT,
                )
        except ClusterError as error:
            log.warning("%s", error)
            raise
        self.autoscalers.remember(as_json(self._api, patched))
        log.info("%s now targets deployment %s (was %s)", label, deployment, current or "-")

    def _read_autoscaler(self, namespace: str, name: str) -> JsonObject | None:
        return self._read_through(
            self.autoscalers,
            self._autoscaling.read_namespaced_horizontal_pod_autoscaler,
            f"HorizontalPodAutoscaler {namespace}/{name}",
            namespace,
            name,
        )

    def _read(self, namespace: str, name: str) -> JsonObject | None:
        return self._read_through(
            self._cache,
            self._apps.read_namespaced_deployment,
            f"deployment {namespace}/{name}",
            namespace,
            name,
        )

    def _read_through(
        self,
        cache: ObjectCache,
        read_call: Callable[..., Any],
        label: str,
        namespace: str,
        name: str,
    ) -> JsonObject | None:
        """From ``cache`` once it is synced (missing there is missing), else a GET."""
        known, cached = cache.lookup(namespace, name)
        if known:
            return cached
        try:
            with errors.translated(f"reading {label}"):
                found = read_call(name, namespace, _request_timeout=REQUEST_TIMEOUT)
        except NotFound:
            return None
        read: JsonObject = as_json(self._api, found)
        return read
