"""The object store: every object the local API server holds, with optimistic concurrency.

One global ``resourceVersion`` counter is bumped by every write, as etcd's revision is; each
object carries the revision of its last write as a string. Writes follow the real server's
rules: create sets uid, resourceVersion, ``generation: 1`` and creationTimestamp (and answers
409 AlreadyExists); update demands a matching resourceVersion (409 Conflict otherwise, and
422 when a custom resource's update gives none); the main resource ignores status changes and
the ``status`` subresource changes only status, for kinds with that subresource; the
generation moves only when the spec moves (for custom resources: anything but metadata); a
write that changes nothing is a no-op that bumps nothing; delete of an object with
finalizers only marks it (``deletionTimestamp``) until an update removes the last one.

A namespaced object can only be created in a namespace that exists (404 ``namespaces "x" not
found`` otherwise, as the real server's NamespaceLifecycle admission answers). Deleting a
namespace deletes what it holds at once (no Terminating phase). Writing a CustomResourceDefinition
registers its kind; deleting it drops its objects.

Each kind keeps a bounded history of :class:`WatchEvent` for watches; asking for events older
than the history holds raises 410 Expired. :meth:`ObjectStore.wait_for_events` blocks on its
kind's condition variable until a write of that kind or the deadline.
"""

from __future__ import annotations

import copy
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubelite import admission, crds, defaults, status
from kubelite.resources import CRD_GROUP, ResourceRegistry, ResourceType

__all__ = ["ObjectStore", "WatchEvent"]

JsonObject = dict[str, Any]
PatchFunction = Callable[[JsonObject], JsonObject]


@dataclass(frozen=True)
class WatchEvent:
    """One write, as watches see it; ``previous`` lets selector watches see objects leave."""

    type: str
    object: JsonObject
    previous: JsonObject | None
    revision: int


class ObjectStore:
    """Thread-safe storage of all objects, keyed by kind, namespace and name."""

    def __init__(self, registry: ResourceRegistry, *, history_limit: int = 1000) -> None:
        self._registry = registry
        self._history_limit = history_limit
        self._lock = threading.RLock()
        """Held by every read and write; the writes' notices go to ``_changed``."""
        self._changed: dict[tuple[str, str], threading.Condition] = {}
        """Per kind, what its watches wait on: a write wakes the watches of its own kind."""
        self._revision = 0
        self._objects: dict[tuple[str, str], dict[tuple[str, str], JsonObject]] = {}
        self._history: dict[tuple[str, str], deque[WatchEvent]] = {}
        self._compacted: dict[tuple[str, str], int] = {}
        self._closed = False

    @property
    def revision(self) -> int:
        with self._lock:
            return self._revision

    def close(self) -> None:
        """Wake every waiting watch so it can end; used when the server stops."""
        with self._lock:
            self._closed = True
            for changed in self._changed.values():
                changed.notify_all()

    # -- reads ---------------------------------------------------------------------------

    def get(self, resource: ResourceType, namespace: str, name: str) -> JsonObject:
        with self._lock:
            return self._get_locked(resource, namespace, name)

    def list_objects(
        self, resource: ResourceType, namespace: str | None
    ) -> tuple[list[JsonObject], int]:
        """Objects of a kind (in one namespace, or all when ``None``) and the current revision."""
        with self._lock:
            objects = self._objects.get(resource.key, {})
            items = [
                obj
                for (obj_namespace, _), obj in sorted(objects.items())
                if namespace is None or obj_namespace == namespace
            ]
            return items, self._revision

    def _get_locked(self, resource: ResourceType, namespace: str, name: str) -> JsonObject:
        found = self._objects.get(resource.key, {}).get((namespace, name))
        if found is None:
            raise status.not_found(group=resource.group, plural=resource.plural, name=name)
        return found

    # -- writes --------------------------------------------------------------------------

    def create(self, resource: ResourceType, namespace: str, body: JsonObject) -> JsonObject:
        """Store a new object (POST); returns it with the server-set fields."""
        obj = copy.deepcopy(body)
        meta = obj.get("metadata")
        if not isinstance(meta, dict):
            meta = obj["metadata"] = {}
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = admission.generated_name(str(meta["generateName"]))
        name = str(meta.get("name") or "")
        admission.check_identity(resource, namespace, obj)
        if meta.get("resourceVersion"):
            raise status.ApiError(
                code=500,
                reason="InternalError",
                message="Internal error occurred: resourceVersion should not be set on objects "
                "to be created",
            )
        admission.validate_name(resource, name)
        now = admission.utc_timestamp()
        for system_field in admission.SYSTEM_METADATA:
            meta.pop(system_field, None)
        meta.update(uid=str(uuid.uuid4()), creationTimestamp=now)
        if resource.custom or resource.generation_tracks_spec:
            meta["generation"] = 1
        if resource.namespaced:
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        if resource.status_subresource:
            obj.pop("status", None)
            if not resource.custom:
                obj["status"] = {}
        admission.prepare_special_kinds(resource, obj, now=now)
        with self._lock:
            objects = self._objects.setdefault(resource.key, {})
            if (namespace, name) in objects:
                raise status.already_exists(group=resource.group, plural=resource.plural, name=name)
            if resource.namespaced:
                self._check_namespace_exists_locked(namespace)
            return self._store_locked(resource, namespace, obj, previous=None)

    def replace(
        self,
        resource: ResourceType,
        namespace: str,
        name: str,
        body: JsonObject,
        *,
        subresource: str | None = None,
    ) -> JsonObject:
        """Replace an object (PUT), or only its status when ``subresource == "status"``."""
        new = copy.deepcopy(body)
        if not isinstance(new.get("metadata"), dict):
            new["metadata"] = {}
        with self._lock:
            old = self._get_locked(resource, namespace, name)
            admission.check_url_name(new, name)
            admission.check_identity(resource, namespace, new)
            given = new["metadata"].get("resourceVersion")
            if given:
                if str(given) != old["metadata"]["resourceVersion"]:
                    raise status.conflict(group=resource.group, plural=resource.plural, name=name)
            elif resource.custom:
                raise status.invalid(
                    kind=resource.kind,
                    group=resource.group,
                    name=name,
                    field="metadata.resourceVersion",
                    value="0x0",
                    detail="must be specified for an update",
                    cause="FieldValueInvalid",
                )
            return self._commit_update_locked(resource, namespace, old, new, subresource)

    def patch(
        self,
        resource: ResourceType,
        namespace: str,
        name: str,
        apply_patch: PatchFunction,
        *,
        subresource: str | None = None,
    ) -> JsonObject:
        """Apply ``apply_patch`` to the current object atomically (PATCH)."""
        with self._lock:
            old = self._get_locked(resource, namespace, name)
            new = apply_patch(copy.deepcopy(old))
            if not isinstance(new.get("metadata"), dict):
                new["metadata"] = {}
            admission.check_url_name(new, name)
            admission.check_identity(resource, namespace, new)
            given = new["metadata"].get("resourceVersion")
            if given and str(given) != old["metadata"]["resourceVersion"]:
                raise status.conflict(group=resource.group, plural=resource.plural, name=name)
            return self._commit_update_locked(resource, namespace, old, new, subresource)

    def delete(
        self,
        resource: ResourceType,
        namespace: str,
        name: str,
        *,
        preconditions: JsonObject | None = None,
    ) -> tuple[JsonObject, bool]:
        """Delete an object; returns it and whether it is gone (False: finalizers pending)."""
        with self._lock:
            old = self._get_locked(resource, namespace, name)
            admission.check_preconditions(resource, old, preconditions or {})
            meta = old["metadata"]
            if meta.get("finalizers"):
                if meta.get("deletionTimestamp"):
                    return old, False
                marked = copy.deepcopy(old)
                marked["metadata"].update(
                    deletionTimestamp=admission.utc_timestamp(), deletionGracePeriodSeconds=0
                )
                return self._store_locked(resource, namespace, marked, previous=old), False
            return self._remove_locked(resource, namespace, old), True

    # -- watch ---------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        with self._lock:
            return self._closed

    def wait_for_events(
        self, resource: ResourceType, *, after: int, timeout: float
    ) -> tuple[list[WatchEvent], int]:
        """Events of a kind newer than revision ``after``, waiting up to ``timeout`` for one.

        Also returns the revision up to which the answer is complete, for bookmarks.
        Raises 410 Expired when events after ``after`` have left the bounded history.
        """
        deadline = time.monotonic() + timeout
        with self._lock:
            while not self._closed:
                compacted = self._compacted.get(resource.key, 0)
                if after < compacted:
                    raise status.expired(requested=after, oldest=compacted + 1)
                events = self._events_after_locked(resource, after)
                remaining = deadline - time.monotonic()
                if events or remaining <= 0:
                    return events, self._revision
                self._changed_locked(resource).wait(remaining)
            return [], self._revision

    # -- internals -----------------------------------------------------------------------

    def _events_after_locked(self, resource: ResourceType, after: int) -> list[WatchEvent]:
        """The kind's events newer than revision ``after``, oldest first: read from the
        newest end of the history, so a watch that keeps up reads only what is new however
        long the history is (a scan of all of it at every wake-up took the server's time
        under a few hundred writes a second with tens of thousands of events kept)."""
        newer: list[WatchEvent] = []
        for event in reversed(self._history.get(resource.key, ())):
            if event.revision <= after:
                break
            newer.append(event)
        newer.reverse()
        return newer

    def _changed_locked(self, resource: ResourceType) -> threading.Condition:
        changed = self._changed.get(resource.key)
        if changed is None:
            changed = self._changed[resource.key] = threading.Condition(self._lock)
        return changed

    def _commit_update_locked(
        self,
        resource: ResourceType,
        namespace: str,
        old: JsonObject,
        new: JsonObject,
        subresource: str | None,
    ) -> JsonObject:
        if subresource == "status":
            result = copy.deepcopy(old)
            if "status" in new:
                result["status"] = new["status"]
            else:
                result.pop("status", None)
        else:
            result = new
            meta = result["metadata"]
            for system_field in admission.SYSTEM_METADATA:
                if system_field in old["metadata"]:
                    meta[system_field] = old["metadata"][system_field]
                else:
                    meta.pop(system_field, None)
            meta["name"] = old["metadata"]["name"]
            if resource.namespaced:
                meta["namespace"] = namespace
            if resource.status_subresource:
                if "status" in old:
                    result["status"] = old["status"]
                else:
                    result.pop("status", None)
            if not resource.custom:
                defaults.apply_defaults(resource.key, result, created=False)
            if admission.spec_changed(resource, old, result):
                meta["generation"] = int(old["metadata"].get("generation", 1)) + 1
            if resource.key == (CRD_GROUP, "customresourcedefinitions"):
                crds.validate_crd(result)
                crds.check_stored_versions(result)
                result["status"] = crds.crd_status(result, now=admission.utc_timestamp())
        result["apiVersion"] = old["apiVersion"]
        result["kind"] = old["kind"]
        result["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        if result == old:
            return old
        if result["metadata"].get("deletionTimestamp") and not result["metadata"].get("finalizers"):
            return self._remove_locked(resource, namespace, result, previous=old)
        return self._store_locked(resource, namespace, result, previous=old)

    def _store_locked(
        self,
        resource: ResourceType,
        namespace: str,
        obj: JsonObject,
        *,
        previous: JsonObject | None,
    ) -> JsonObject:
        self._revision += 1
        obj.setdefault("apiVersion", resource.api_version(resource.storage_version))
        obj.setdefault("kind", resource.kind)
        obj["metadata"]["resourceVersion"] = str(self._revision)
        name = str(obj["metadata"]["name"])
        self._objects.setdefault(resource.key, {})[(namespace, name)] = obj
        self._record_locked(
            resource, WatchEvent("ADDED" if previous is None else "MODIFIED", obj, previous, 0)
        )
        if resource.key == (CRD_GROUP, "customresourcedefinitions"):
            self._registry.register(crds.resource_type_from_crd(obj))
        return obj

    def _remove_locked(
        self,
        resource: ResourceType,
        namespace: str,
        obj: JsonObject,
        *,
        previous: JsonObject | None = None,
    ) -> JsonObject:
        name = str(obj["metadata"]["name"])
        if resource.key == ("", "namespaces"):
            self._drop_namespace_contents_locked(name)
        if resource.key == (CRD_GROUP, "customresourcedefinitions"):
            self._drop_custom_kind_locked(obj)
        self._objects.get(resource.key, {}).pop((namespace, name), None)
        self._revision += 1
        deleted = copy.deepcopy(obj)
        deleted["metadata"]["resourceVersion"] = str(self._revision)
        self._record_locked(resource, WatchEvent("DELETED", deleted, previous or obj, 0))
        return deleted

    def _drop_namespace_contents_locked(self, namespace: str) -> None:
        for key, objects in list(self._objects.items()):
            resource = self._registry.by_key(key)
            if resource is None or not resource.namespaced:
                continue
            for obj_namespace, _ in [k for k in objects if k[0] == namespace]:
                self._remove_locked(resource, obj_namespace, objects[(obj_namespace, _)])

    def _drop_custom_kind_locked(self, crd: JsonObject) -> None:
        spec = crd["spec"]
        key = (str(spec["group"]), str(spec["names"]["plural"]))
        resource = self._registry.by_key(key)
        if resource is not None:
            for (namespace, _), obj in list(self._objects.get(key, {}).items()):
                self._remove_locked(resource, namespace, obj)
        self._registry.unregister(group=key[0], plural=key[1])

    def _check_namespace_exists_locked(self, namespace: str) -> None:
        namespaces = self._registry.by_key(("", "namespaces"))
        if namespaces is None or ("", namespace) in self._objects.get(namespaces.key, {}):
            return
        raise status.not_found(group="", plural="namespaces", name=namespace)

    def _record_locked(self, resource: ResourceType, event: WatchEvent) -> None:
        event = WatchEvent(event.type, event.object, event.previous, self._revision)
        history = self._history.setdefault(resource.key, deque())
        history.append(event)
        while len(history) > self._history_limit:
            self._compacted[resource.key] = history.popleft().revision
        self._changed_locked(resource).notify_all()
