"""Git specs written into their Rollout resources (``rollout.ports.SpecMirror``).

In git mode the controller mirrors each valid spec into the cluster, annotated with the
commit and path it came from, so ``kubectl get rollouts`` and Argo CD see what runs and the
last valid spec survives a restart. Only spec, the labels and annotations Git gives, and
the source annotations are written, never status or annotations set by others (a pending
command survives a mirror); the patch planning is :mod:`rollout.kube.rollout_resource`.
Reads and writes go through the state store's objects and cache.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from kubernetes import client as k8s_client

from rollout import API_GROUP, API_VERSION
from rollout.errors import Conflict, NotFound
from rollout.kube import rollout_resource as resource
from rollout.kube.store import KubeStateStore
from rollout.kubeapi import errors
from rollout.kubeapi.client import REQUEST_TIMEOUT, json_object
from rollout.ports import MirrorResult

__all__ = ["MAX_MIRROR_ATTEMPTS", "KubeSpecMirror"]

log = logging.getLogger("rollout.kube.mirror")

MAX_MIRROR_ATTEMPTS = 5


class KubeSpecMirror:
    """:class:`rollout.ports.SpecMirror` on the resources of one :class:`KubeStateStore`."""

    def __init__(self, store: KubeStateStore) -> None:
        self._store = store

    def mirror_spec(
        self, rollout_body: Mapping[str, Any], *, commit: str, path: str
    ) -> MirrorResult:
        """Create or update the Rollout's spec from Git; status is never touched.

        Labels and annotations the Git document carries are added (others' annotations,
        such as a pending command, are kept); the source annotations say where it came
        from. Nothing is written when spec, metadata and source path are already in place.
        """
        body = dict(rollout_body)
        metadata = body.get("metadata") or {}
        name = str(metadata.get("name") or "")
        namespace = str(metadata.get("namespace") or "default")
        action = f"mirroring rollout {namespace}/{name} from {path}"
        for attempt in range(MAX_MIRROR_ATTEMPTS):
            try:
                existing = self._existing(namespace, name, fresh=attempt > 0)
            except NotFound:
                created = resource.mirror_object(body, commit=commit, path=path)
                try:
                    with errors.translated(action):
                        self._store.cache.remember(
                            json_object(
                                self._store.objects.create_namespaced_custom_object(
                                    API_GROUP,
                                    API_VERSION,
                                    namespace,
                                    resource.PLURAL,
                                    created,
                                    _request_timeout=REQUEST_TIMEOUT,
                                )
                            )
                        )
                except Conflict:
                    continue  # created by someone else meanwhile: compare with theirs
                return MirrorResult.CREATED
            patch = resource.mirror_patch(existing, body, commit=commit, path=path)
            if not patch:
                return MirrorResult.UNCHANGED
            try:
                self._store.patch_object(namespace, name, patch, action)
            except (Conflict, NotFound):
                continue
            return MirrorResult.UPDATED
        raise Conflict(f"{action}: the resource kept changing ({MAX_MIRROR_ATTEMPTS} attempts)")

    def _existing(self, namespace: str, name: str, *, fresh: bool) -> dict[str, Any]:
        """The Rollout as it is; a synced cache that lacks it is believed (a first sync
        creates thousands: one request each, not a 404 and then the create). Should it
        exist after all, the create's 409 sends the next attempt to the server."""
        if not fresh:
            known, cached = self._store.cache.lookup(namespace, name)
            if known and cached is None:
                raise NotFound(f"rollout {namespace}/{name} not found")
        return self._store.read_object(namespace, name, fresh=fresh)

    def delete_mirror(self, namespace: str, name: str) -> bool:
        """Delete a Rollout this controller mirrored from Git; True when deleted.

        A Rollout without the source annotation was applied by someone else (Argo CD,
        Flux, a person) and is left alone; so is one that changed since it was read.
        """
        try:
            existing = resource.stored_from_object(self._store.read_object(namespace, name))
        except NotFound:
            return False
        if existing.source_path is None:
            log.info("rollout %s was not mirrored from Git: not deleting it", existing.key)
            return False
        options = k8s_client.V1DeleteOptions(
            preconditions=k8s_client.V1Preconditions(uid=existing.uid)
        )
        try:
            with errors.translated(f"deleting rollout {existing.key}"):
                self._store.objects.delete_namespaced_custom_object(
                    API_GROUP,
                    API_VERSION,
                    namespace,
                    resource.PLURAL,
                    name,
                    body=options,
                    _request_timeout=REQUEST_TIMEOUT,
                )
        except NotFound:
            return False
        return True
