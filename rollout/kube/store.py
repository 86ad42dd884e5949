"""The state store: Rollout resources and their status subresource (``rollout.ports.StateStore``).

The state is written with optimistic concurrency: a save names the resourceVersion it read,
and :class:`~rollout.errors.Conflict` says the object moved (the caller re-reads and decides
again). A controller restarted mid-rollout loads the state back from here and continues
where it was. A person's command (promote, abort, ...) is written as an annotation
(:meth:`KubeStateStore.request_command`) that the coordinator reads on its next tick.
Mirroring Git specs into these resources is :mod:`rollout.kube.mirror`; Events are
:mod:`rollout.kube.event_recorder`.

While the controller leads, reads come from a list+watch cache (``cache``,
:mod:`rollout.kube.rollout_cache`); what a write returns goes into it at once, and a
conflict reads the object again from the server, so a stale copy costs at most one retry.
Reading an object's status into a ``RolloutState`` is a validation; the result is kept per
Rollout and reused while its resourceVersion stays the same (an idle Rollout is read at
every Git poll and every resync, and its status does not change between them). The
status is sent through the official client's ``ApiClient`` as the plain JSON it is
(:mod:`rollout.kubeapi.json_call`), not through the generated method that validates and
walks it again first.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from typing import Any

from kubernetes import client as k8s_client

from rollout import API_GROUP, API_VERSION
from rollout.errors import ApiNotServed, Conflict, NotFound, RolloutError
from rollout.kube import rollout_resource as resource
from rollout.kube.rollout_cache import RolloutCache
from rollout.kube.rollout_resource import CommandAction
from rollout.kube.status_times import status_to_wire
from rollout.kubeapi import errors, json_call
from rollout.kubeapi.client import REQUEST_TIMEOUT, json_object
from rollout.ports import Stored
from rollout.state import Command, RolloutState

__all__ = ["JSON_PATCH", "MERGE_PATCH", "KubeStateStore", "not_found"]

log = logging.getLogger("rollout.kube.store")

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"

STATUS_PATH = "/apis/{group}/{version}/namespaces/{namespace}/{plural}/{name}/status"
"""The status subresource of one Rollout; written with ``json_call.send``: a status is
plain JSON data, which the generated client method would validate and walk again."""

JsonObject = dict[str, Any]


class KubeStateStore:
    """:class:`rollout.ports.StateStore` on ``rollouts.canary.rollout.dev`` resources."""

    def __init__(self, api: k8s_client.ApiClient) -> None:
        self.api = api
        self.objects = k8s_client.CustomObjectsApi(api)
        self.cache = RolloutCache(self.objects)
        self._parsed: dict[tuple[str, str], tuple[str, Stored]] = {}
        """The last ``Stored`` read of each Rollout, by its resourceVersion."""
        self._parsed_lock = threading.Lock()

    # -- reading -------------------------------------------------------------------------

    def read_object(self, namespace: str, name: str, *, fresh: bool = False) -> JsonObject:
        """The Rollout object, from the cache while it runs (``fresh``: from the server)."""
        cached = None if fresh else self.cache.get(namespace, name)
        if cached is not None:
            return cached
        try:
            with errors.translated(f"reading rollout {namespace}/{name}"):
                found = json_object(
                    self.objects.get_namespaced_custom_object(
                        API_GROUP,
                        API_VERSION,
                        namespace,
                        resource.PLURAL,
                        name,
                        _request_timeout=REQUEST_TIMEOUT,
                    )
                )
        except NotFound as error:
            raise not_found(namespace, name, error) from error
        self.cache.remember(found)
        return found

    def load(self, namespace: str, name: str) -> Stored:
        """The Rollout resource: spec body, state from status, resourceVersion, annotations."""
        return self._stored(self.read_object(namespace, name))

    def _stored(self, obj: JsonObject) -> Stored:
        """``stored_from_object``, reused while the object's resourceVersion is the same
        (a resourceVersion names one content of one object: the server changes it with
        every write). ``Stored`` and the state in it are immutable, so sharing is safe."""
        metadata = obj.get("metadata") or {}
        version = str(metadata.get("resourceVersion") or "")
        key = (str(metadata.get("namespace") or "default"), str(metadata.get("name") or ""))
        if version:
            with self._parsed_lock:
                known = self._parsed.get(key)
            if known is not None and known[0] == version:
                return known[1]
        stored = resource.stored_from_object(obj)
        if version:
            with self._parsed_lock:
                self._parsed[key] = (version, stored)
        return stored

    @staticmethod
    def _path(namespace: str, name: str) -> dict[str, str]:
        return {
            "group": API_GROUP,
            "version": API_VERSION,
            "namespace": namespace,
            "plural": resource.PLURAL,
            "name": name,
        }

    def check_served(self) -> None:
        """Raise ``NotFound`` when the cluster does not serve Rollouts (the CRD deleted, the
        API server emptied): one discovery request, which the cache cannot answer."""
        what = f"{API_GROUP}/{API_VERSION}"
        with errors.translated(f"discovering {what}"):
            found = self.objects.get_api_resources(
                API_GROUP, API_VERSION, _request_timeout=REQUEST_TIMEOUT
            )
        if resource.PLURAL not in {item.name for item in found.resources or []}:
            raise NotFound(f"discovering {what}: {resource.PLURAL} are not served")

    def list_rollouts(self, namespace: str | None = None) -> list[Stored]:
        """Every Rollout, in one namespace or all, ordered by namespace and name."""
        cached = self.cache.items(namespace)
        if cached is not None:
            stored = [self._stored(item) for item in cached]
            if namespace is None:  # every Rollout is here: forget the ones that are gone
                present = {(item.namespace, item.name) for item in stored}
                with self._parsed_lock:
                    for key in set(self._parsed) - present:
                        del self._parsed[key]
            return sorted(stored, key=lambda s: (s.namespace, s.name))
        where = f"namespace {namespace}" if namespace else "all namespaces"
        with errors.translated(f"listing rollouts in {where}"):
            if namespace:
                listed = json_object(
                    self.objects.list_namespaced_custom_object(
                        API_GROUP,
                        API_VERSION,
                        namespace,
                        resource.PLURAL,
                        _request_timeout=REQUEST_TIMEOUT,
                    )
                )
            else:
                listed = json_object(
                    self.objects.list_cluster_custom_object(
                        API_GROUP, API_VERSION, resource.PLURAL, _request_timeout=REQUEST_TIMEOUT
                    )
                )
        stored = [resource.stored_from_object(item) for item in listed.get("items") or []]
        return sorted(stored, key=lambda s: (s.namespace, s.name))

    # -- the state -----------------------------------------------------------------------

    def save_state(
        self, namespace: str, name: str, state: RolloutState, resource_version: str | None
    ) -> str:
        """Write the status subresource; returns the new resourceVersion.

        With a ``resource_version`` the write is conditional: :class:`Conflict` when the
        resource changed since (re-read and decide again). Without one it is unconditional.
        """
        action = f"saving the state of rollout {namespace}/{name}"
        status = status_to_wire(state.to_status())
        try:
            with errors.translated(action):
                if resource_version is not None:
                    body = {
                        "apiVersion": f"{API_GROUP}/{API_VERSION}",
                        "kind": resource.KIND,
                        "metadata": {
                            "name": name,
                            "namespace": namespace,
                            "resourceVersion": resource_version,
                        },
                        "status": status,
                    }
                    written = json_call.send(
                        self.api, "PUT", STATUS_PATH, self._path(namespace, name), body
                    )
                else:
                    written = json_call.send(
                        self.api,
                        "PATCH",
                        STATUS_PATH,
                        self._path(namespace, name),
                        [{"op": "add", "path": "/status", "value": status}],
                        content_type=JSON_PATCH,
                    )
        except Conflict as error:
            with contextlib.suppress(RolloutError):  # the server's copy for the retry
                self.read_object(namespace, name, fresh=True)
            raise Conflict(
                f"rollout {namespace}/{name} changed since resourceVersion {resource_version}"
                " was read"
            ) from error
        except NotFound as error:
            raise not_found(namespace, name, error) from error
        self.cache.remember(written)
        return str(written["metadata"]["resourceVersion"])

    def patch_object(
        self,
        namespace: str,
        name: str,
        patch: JsonObject | list[JsonObject],
        action: str,
        *,
        content_type: str = JSON_PATCH,
    ) -> JsonObject:
        """Patch the Rollout (a JSON patch unless told otherwise); the result is cached."""
        with errors.translated(action):
            patched = json_call.send(
                self.api,
                "PATCH",
                json_call.CUSTOM_OBJECT,
                {**self._path(namespace, name), "plural": resource.PLURAL},
                patch,
                content_type=content_type,
            )
        self.cache.remember(patched)
        return patched

    # -- commands and annotations -------------------------------------------------------------

    def request_command(
        self, namespace: str, name: str, action: CommandAction, by: str, *, at: float | None = None
    ) -> Command:
        """Ask the controller to promote, promote fully, abort or retry a rollout."""
        if action not in resource.COMMAND_ACTIONS:
            raise ValueError(f"unknown action {action!r}: {', '.join(resource.COMMAND_ACTIONS)}")
        command = Command(
            id=uuid.uuid4().hex[:12],
            action=action,
            by=by,
            at=time.time() if at is None else at,
        )
        patch = {
            "metadata": {
                "annotations": {resource.COMMAND_ANNOTATION: resource.encode_command(command)}
            }
        }
        try:
            self.patch_object(
                namespace,
                name,
                patch,
                f"requesting {action} of rollout {namespace}/{name}",
                content_type=MERGE_PATCH,
            )
        except NotFound as error:
            raise not_found(namespace, name, error) from error
        return command

    def annotate(self, namespace: str, name: str, annotations: dict[str, str]) -> None:
        """Set annotations on the Rollout (a merge patch of those keys only)."""
        try:
            self.patch_object(
                namespace,
                name,
                {"metadata": {"annotations": annotations}},
                f"annotating rollout {namespace}/{name}",
                content_type=MERGE_PATCH,
            )
        except NotFound as error:
            raise not_found(namespace, name, error) from error


def not_found(namespace: str, name: str, error: NotFound) -> NotFound:
    """ "rollout NS/NAME not found", unless the Rollout API itself is missing: that says so."""
    if isinstance(error, ApiNotServed):
        return error
    return NotFound(f"rollout {namespace}/{name} not found")
