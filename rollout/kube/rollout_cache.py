"""The cache of Rollout resources that the state store reads while the controller leads.

Kept apart from ``rollout.kube.store`` so the store stays about reading and writing one
Rollout: this module only knows which list call feeds the cache (one namespace, or all).
"""

from __future__ import annotations

import functools

from kubernetes import client as k8s_client

from rollout import API_GROUP, API_VERSION
from rollout.kube import rollout_resource as resource
from rollout.kubeapi.informer import ChangeHandler
from rollout.kubeapi.object_cache import ObjectCache

__all__ = ["RolloutCache"]


class RolloutCache(ObjectCache):
    """Rollouts of one namespace, or of all, in memory while started."""

    def __init__(self, objects: k8s_client.CustomObjectsApi) -> None:
        super().__init__("rollouts")
        self._objects = objects

    def watch(self, namespace: str | None, *, on_change: ChangeHandler | None = None) -> None:
        """Start the cache over ``namespace`` (all namespaces when None)."""
        if namespace:
            list_call = functools.partial(
                self._objects.list_namespaced_custom_object,
                API_GROUP,
                API_VERSION,
                namespace,
                resource.PLURAL,
            )
        else:
            list_call = functools.partial(
                self._objects.list_cluster_custom_object, API_GROUP, API_VERSION, resource.PLURAL
            )
        self.start(list_call, on_change=on_change)
