"""The list+watch cache of Rollout resources that the state store reads while leading.

Kept apart from ``rollout.kube.store`` so the store stays about reading and writing one
Rollout: this module knows which list call feeds the cache (one namespace, or all), and
answers only once the first list is in (before that, and when stopped, the store asks the
server).
"""

from __future__ import annotations

import functools
from typing import Any

from kubernetes import client as k8s_client

from rollout import API_GROUP, API_VERSION
from rollout.kube import rollout_resource as resource
from rollout.kube.informer import ChangeHandler, Informer

__all__ = ["RolloutCache"]

JsonObject = dict[str, Any]


class RolloutCache:
    """Rollouts in memory between ``start`` and ``stop``; None means "ask the server"."""

    def __init__(self, objects: k8s_client.CustomObjectsApi) -> None:
        self._objects = objects
        self._informer: Informer | None = None

    def start(self, namespace: str | None, *, on_change: ChangeHandler | None = None) -> None:
        if self._informer is not None:
            return
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
        self._informer = Informer(list_call, name="rollouts", on_change=on_change).start()

    def stop(self) -> None:
        informer, self._informer = self._informer, None
        if informer is not None:
            informer.stop()

    def _synced(self) -> Informer | None:
        informer = self._informer
        return informer if informer is not None and informer.synced.is_set() else None

    def get(self, namespace: str, name: str) -> JsonObject | None:
        informer = self._synced()
        return None if informer is None else informer.get(namespace, name)

    def items(self, namespace: str | None) -> list[JsonObject] | None:
        informer = self._synced()
        return None if informer is None else informer.items(namespace)

    def remember(self, obj: JsonObject) -> None:
        """What a write returned, so the next read sees it before its watch event."""
        if self._informer is not None and obj.get("metadata"):
            self._informer.remember(obj)
