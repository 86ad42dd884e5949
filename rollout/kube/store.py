"""Where rollout state lives: the status subresource of the Rollout custom resource.

The :class:`StateStore` Protocol is what the controller needs from it; :class:`KubeStateStore`
is the Kubernetes implementation. The state is written with optimistic concurrency: a save
names the resourceVersion it read, and :class:`~rollout.errors.Conflict` says the object
moved (the caller re-reads and decides again). A controller restarted mid-rollout loads the
state back from here and continues where it was.

The resource also carries:

- the spec, mirrored from Git in git mode (:meth:`KubeStateStore.mirror_spec`), annotated
  with the commit and path it came from, never touching status;
- a person's command (promote, abort, ...) in an annotation (:meth:`request_command`);
- Events about it (:meth:`record_event`, see :mod:`rollout.kube.event_recorder`).

While the controller leads, reads come from a list+watch cache (``cache``,
:mod:`rollout.kube.rollout_cache`); what a write returns goes into it at once, and a
conflict reads the object again from the server, so a stale copy costs at most one retry.
"""

from __future__ import annotations

import builtins
import contextlib
import enum
import logging
import time
import uuid
from typing import Any, Protocol

from kubernetes import client as k8s_client

from rollout import API_GROUP, API_VERSION
from rollout.effects import RecordEvent
from rollout.errors import ApiNotServed, Conflict, NotFound, RolloutError
from rollout.kube import errors
from rollout.kube import rollout_resource as resource
from rollout.kube.client import REQUEST_TIMEOUT, json_object
from rollout.kube.event_recorder import EventRecorder
from rollout.kube.rollout_cache import RolloutCache
from rollout.kube.rollout_resource import CommandAction, StoredRollout
from rollout.reconcile import Stored
from rollout.spec.rollout import Rollout
from rollout.state import Command, RolloutState

__all__ = ["KubeStateStore", "MirrorResult", "StateStore", "StoredRollout"]

log = logging.getLogger("rollout.kube.store")

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
MAX_MIRROR_ATTEMPTS = 5

JsonObject = dict[str, Any]


class MirrorResult(enum.StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


class StateStore(Protocol):
    """The controller's view of where rollouts and their state are kept."""

    def load(self, namespace: str, name: str) -> StoredRollout: ...

    def save_state(
        self, namespace: str, name: str, state: RolloutState, resource_version: str | None
    ) -> str: ...

    def list(self, namespace: str | None = None) -> builtins.list[StoredRollout]: ...

    def mirror_spec(self, rollout_body: JsonObject, *, commit: str, path: str) -> MirrorResult: ...

    def delete_mirror(self, namespace: str, name: str) -> bool: ...

    def request_command(
        self, namespace: str, name: str, action: CommandAction, by: str
    ) -> Command: ...

    def record_event(
        self,
        namespace: str,
        rollout_name: str,
        uid: str,
        reason: str,
        message: str,
        warning: bool = False,
    ) -> str: ...


class KubeStateStore:
    """:class:`StateStore` on ``rollouts.canary.rollout.dev`` resources."""

    def __init__(self, api: k8s_client.ApiClient) -> None:
        self._objects = k8s_client.CustomObjectsApi(api)
        self._events = EventRecorder(api)
        self._uids: dict[str, str] = {}
        self.cache = RolloutCache(self._objects)

    # -- reading -------------------------------------------------------------------------

    def _get(self, namespace: str, name: str, *, fresh: bool = False) -> JsonObject:
        cached = None if fresh else self.cache.get(namespace, name)
        if cached is not None:
            return cached
        try:
            with errors.translated(f"reading rollout {namespace}/{name}"):
                found = json_object(
                    self._objects.get_namespaced_custom_object(
                        API_GROUP,
                        API_VERSION,
                        namespace,
                        resource.PLURAL,
                        name,
                        _request_timeout=REQUEST_TIMEOUT,
                    )
                )
        except NotFound as error:
            raise _not_found(namespace, name, error) from error
        self.cache.remember(found)
        return found

    def _remember(self, stored: StoredRollout) -> StoredRollout:
        self._uids[stored.key] = stored.uid
        return stored

    def load(self, namespace: str, name: str) -> StoredRollout:
        """The Rollout resource: spec body, state from status, resourceVersion, annotations."""
        return self._remember(resource.stored_from_object(self._get(namespace, name)))

    def check_served(self) -> None:
        """Raise ``NotFound`` when the cluster does not serve Rollouts (the CRD deleted, the
        API server emptied): one discovery request, which the cache cannot answer."""
        what = f"{API_GROUP}/{API_VERSION}"
        with errors.translated(f"discovering {what}"):
            found = self._objects.get_api_resources(
                API_GROUP, API_VERSION, _request_timeout=REQUEST_TIMEOUT
            )
        if resource.PLURAL not in {item.name for item in found.resources or []}:
            raise NotFound(f"discovering {what}: {resource.PLURAL} are not served")

    def list(self, namespace: str | None = None) -> builtins.list[StoredRollout]:
        """Every Rollout, in one namespace or all, ordered by namespace and name."""
        cached = self.cache.items(namespace)
        if cached is not None:
            stored = [resource.stored_from_object(item) for item in cached]
            return sorted((self._remember(s) for s in stored), key=lambda s: (s.namespace, s.name))
        where = f"namespace {namespace}" if namespace else "all namespaces"
        with errors.translated(f"listing rollouts in {where}"):
            if namespace:
                listed = json_object(
                    self._objects.list_namespaced_custom_object(
                        API_GROUP,
                        API_VERSION,
                        namespace,
                        resource.PLURAL,
                        _request_timeout=REQUEST_TIMEOUT,
                    )
                )
            else:
                listed = json_object(
                    self._objects.list_cluster_custom_object(
                        API_GROUP, API_VERSION, resource.PLURAL, _request_timeout=REQUEST_TIMEOUT
                    )
                )
        stored = [resource.stored_from_object(item) for item in listed.get("items") or []]
        return sorted((self._remember(s) for s in stored), key=lambda s: (s.namespace, s.name))

    # -- the state -----------------------------------------------------------------------

    def save_state(
        self, namespace: str, name: str, state: RolloutState, resource_version: str | None
    ) -> str:
        """Write the status subresource; returns the new resourceVersion.

        With a ``resource_version`` the write is conditional: :class:`Conflict` when the
        resource changed since (re-read and decide again). Without one it is unconditional.
        """
        action = f"saving the state of rollout {namespace}/{name}"
        status = state.to_status()
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
                    written = json_object(
                        self._objects.replace_namespaced_custom_object_status(
                            API_GROUP,
                            API_VERSION,
                            namespace,
                            resource.PLURAL,
                            name,
                            body,
                            _request_timeout=REQUEST_TIMEOUT,
                        )
                    )
                else:
                    written = json_object(
                        self._objects.patch_namespaced_custom_object_status(
                            API_GROUP,
                            API_VERSION,
                            namespace,
                            resource.PLURAL,
                            name,
                            [{"op": "add", "path": "/status", "value": status}],
                            _content_type=JSON_PATCH,
                            _request_timeout=REQUEST_TIMEOUT,
                        )
                    )
        except Conflict as error:
            with contextlib.suppress(RolloutError):  # the server's copy for the retry
                self._get(namespace, name, fresh=True)
            raise Conflict(
                f"rollout {namespace}/{name} changed since resourceVersion {resource_version}"
                " was read"
            ) from error
        except NotFound as error:
            raise _not_found(namespace, name, error) from error
        self.cache.remember(written)
        return str(written["metadata"]["resourceVersion"])

    def load_state(self, namespace: str, name: str) -> Stored:
        """The coordinator's view (:class:`rollout.reconcile.StateAccess`)."""
        stored = self.load(namespace, name)
        return Stored(
            stored.state, stored.resource_version, stored.command, generation=stored.generation
        )

    # -- the spec mirror -----------------------------------------------------------------

    def mirror_spec(self, rollout_body: JsonObject, *, commit: str, path: str) -> MirrorResult:
        """Create or update the Rollout's spec from Git; status is never touched.

        Labels and annotations the Git document carries are added (others' annotations,
        such as a pending command, are kept); the source annotations say where it came
        from. Nothing is written when spec, metadata and source path are already in place.
        """
        metadata = rollout_body.get("metadata") or {}
        name = str(metadata.get("name") or "")
        namespace = str(metadata.get("namespace") or "default")
        action = f"mirroring rollout {namespace}/{name} from {path}"
        for attempt in range(MAX_MIRROR_ATTEMPTS):
            try:
                existing = self._get(namespace, name, fresh=attempt > 0)
            except NotFound:
                created = resource.mirror_object(rollout_body, commit=commit, path=path)
                try:
                    with errors.translated(action):
                        self.cache.remember(
                            json_object(
                                self._objects.create_namespaced_custom_object(
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
            patch = resource.mirror_patch(existing, rollout_body, commit=commit, path=path)
            if not patch:
                return MirrorResult.UNCHANGED
            try:
                self._patch(namespace, name, patch, action)
            except (Conflict, NotFound):
                continue
            return MirrorResult.UPDATED
        raise Conflict(f"{action}: the resource kept changing ({MAX_MIRROR_ATTEMPTS} attempts)")

    def _patch(
        self,
        namespace: str,
        name: str,
        patch: JsonObject | builtins.list[JsonObject],
        action: str,
        *,
        content_type: str = JSON_PATCH,
    ) -> JsonObject:
        with errors.translated(action):
            patched = json_object(
                self._objects.patch_namespaced_custom_object(
                    API_GROUP,
                    API_VERSION,
                    namespace,
                    resource.PLURAL,
                    name,
                    patch,
                    _content_type=content_type,
                    _request_timeout=REQUEST_TIMEOUT,
                )
            )
        self.cache.remember(patched)
        return patched

    def delete_mirror(self, namespace: str, name: str) -> bool:
        """Delete a Rollout this controller mirrored from Git; True when deleted.

        A Rollout without the source annotation was applied by someone else (Argo CD,
        Flux, a person) and is left alone; so is one that changed since it was read.
        """
        try:
            existing = resource.stored_from_object(self._get(namespace, name))
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
                self._objects.delete_namespaced_custom_object(
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
        self._uids.pop(existing.key, None)
        return True

    # -- commands and events -------------------------------------------------------------

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
            self._patch(
                namespace,
                name,
                patch,
                f"requesting {action} of rollout {namespace}/{name}",
                content_type=MERGE_PATCH,
            )
        except NotFound as error:
            raise _not_found(namespace, name, error) from error
        return command

    def annotate(self, namespace: str, name: str, annotations: dict[str, str]) -> None:
        """Set annotations on the Rollout (a merge patch of those keys only)."""
        try:
            self._patch(
                namespace,
                name,
                {"metadata": {"annotations": annotations}},
                f"annotating rollout {namespace}/{name}",
                content_type=MERGE_PATCH,
            )
        except NotFound as error:
            raise _not_found(namespace, name, error) from error

    @staticmethod
    def read_command(stored: StoredRollout) -> Command | None:
        return resource.read_command(stored)

    def record_event(
        self,
        namespace: str,
        rollout_name: str,
        uid: str,
        reason: str,
        message: str,
        warning: bool = False,
    ) -> str:
        """A ``v1`` Event on the Rollout (de-duplicated); returns its name."""
        return self._events.record_event(namespace, rollout_name, uid, reason, message, warning)

    def record(self, rollout: Rollout, event: RecordEvent) -> None:
        """The coordinator's event sink (:class:`rollout.reconcile.EventSink`)."""
        uid = self._uids.get(rollout.key)
        if uid is None:
            try:
                uid = self.load(rollout.namespace, rollout.name).uid
            except NotFound:
                uid = ""
        self.record_event(
            rollout.namespace, rollout.name, uid, event.reason, event.message, event.warning
        )


def _not_found(namespace: str, name: str, error: NotFound) -> NotFound:
    """ "rollout NS/NAME not found", unless the Rollout API itself is missing: that says so."""
    if isinstance(error, ApiNotServed):
        return error
    return NotFound(f"rollout {namespace}/{name} not found")
