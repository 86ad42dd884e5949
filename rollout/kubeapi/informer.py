"""A list+watch cache of one kind of object, as client-go's informers keep one.

Reading a Rollout, a VirtualService or a Deployment for every rollout at every tick costs
requests that grow with the number of rollouts even when nothing changes. An ``Informer``
lists the kind once, then follows a watch from the list's resourceVersion, keeping every
object in memory; readers ask the cache. The watch is resumed from the last
resourceVersion seen (bookmarks included) when it ends or breaks, and the kind is listed
again only when the server says that version is gone (410) or stops serving the kind
(404: its CRD deleted; until a list works again the cache is not ``synced``, so readers ask
the server, and each kind of failure is logged once, retried with backoff up to 30 s).
``on_change`` is told about
every object that was added, changed or deleted (a re-list reports the differences), so
work can follow changes instead of polling for them.

A writer may put the object its write returned into the cache (``remember``), so its next
read does not see the older copy while the watch event is on its way (the change is
reported then, once); an older copy never replaces a newer one (resourceVersions compared
as etcd's integers when they are ones).
Only this module and the other Kubernetes adapters import ``kubernetes``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import urllib3
from kubernetes import client as k8s_client
from kubernetes import watch as k8s_watch

__all__ = ["ChangeHandler", "Informer", "ObjectKey", "key_of"]

log = logging.getLogger("rollout.kubeapi.informer")

ObjectKey = tuple[str, str]
"""(namespace, name); the namespace is ``""`` for cluster-scoped objects."""
JsonObject = dict[str, Any]
ChangeHandler = Callable[[ObjectKey, JsonObject | None, JsonObject | None], None]
_GONE = 410
_NOT_SERVED = 404
_LONGEST_RETRY = 30.0
"""Retries of a failing list or watch back off from ``retry_delay`` up to this (seconds)."""


def _one_line(error: BaseException) -> str:
    reason = getattr(error, "reason", None)
    status = getattr(error, "status", None)
    if status is not None:
        return f"HTTP {status} {reason or ''}".strip()
    return " ".join(str(error).split())[:200]


class _Expired(Exception):
    """The watch's resourceVersion is too old: list again."""


def key_of(obj: JsonObject) -> ObjectKey:
    metadata = obj.get("metadata") or {}
    return str(metadata.get("namespace") or ""), str(metadata.get("name") or "")


def _newer_or_same(candidate: JsonObject, current: JsonObject | None) -> bool:
    if current is None:
        return True
    new = str((candidate.get("metadata") or {}).get("resourceVersion") or "")
    old = str((current.get("metadata") or {}).get("resourceVersion") or "")
    if new.isdigit() and old.isdigit():
        return int(new) >= int(old)
    return True


def _untyped(list_call: Callable[..., Any]) -> Callable[..., Any]:
    """``list_call`` with nothing that names its return type. The client's watch builds
    each event's object as that type (for custom objects by encoding the decoded JSON
    again and decoding it once more; for Deployments as client models), which the cache
    never reads: it keeps ``raw_object``, the decoded JSON, and that is all an untyped
    watch builds."""

    def listing(*args: Any, **kwargs: Any) -> Any:
        return list_call(*args, **kwargs)

    return listing


class Informer:
    """Objects of one kind, kept current by list and watch in a background thread.

    ``list_call`` is a list function of the official client taking ``**kwargs``
    (``watch=True`` and the rest are passed through), e.g. a partial of
    ``CustomObjectsApi.list_namespaced_custom_object``.
    """

    def __init__(
        self,
        list_call: Callable[..., Any],
        *,
        name: str,
        on_change: ChangeHandler | None = None,
        watch_timeout: int = 300,
        retry_delay: float = 1.0,
    ) -> None:
        self._list_call = list_call
        self.name = name
        self._on_change = on_change
        self._watch_timeout = watch_timeout
        self._retry_delay = retry_delay
        self._objects: dict[ObjectKey, JsonObject] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.synced = threading.Event()
        self._thread: threading.Thread | None = None
        self._watch: k8s_watch.Watch | None = None
        self._version = ""
        """The last resourceVersion seen; a restarted informer resumes from it."""
        self.lists = 0
        """How many times the kind was listed (once, plus once per 410)."""

    # ---- reading ---------------------------------------------------------------------
    def get(self, namespace: str, name: str) -> JsonObject | None:
        with self._lock:
            return self._objects.get((namespace, name))

    def items(self, namespace: str | None = None) -> list[JsonObject]:
        with self._lock:
            return [obj for (ns, _), obj in self._objects.items() if namespace in (None, ns)]

    def remember(self, obj: JsonObject) -> None:
        """Put an object a write returned into the cache, unless a newer one is there, and
        tell ``on_change`` when it replaced an older copy: its watch event then finds the
        same copy and reports no change, so without this a change this process wrote (a
        spec mirrored from Git, a command) would never be reported."""
        key = key_of(obj)
        with self._lock:
            old = self._objects.get(key)
            if not _newer_or_same(obj, old):
                return
            self._objects[key] = obj
        if old is None or _version(old) != _version(obj):
            self._notify(key, old, obj)

    # ---- lifecycle -------------------------------------------------------------------
    def start(self, *, wait: float | None = 30.0) -> Informer:
        """List and watch in the background; wait up to ``wait`` s for the first list."""
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(
                target=self._run, name=f"informer-{self.name}", daemon=True
            )
            self._thread.start()
        if wait:
            self.synced.wait(wait)
        return self

    def stop(self) -> None:
        """Stop watching; the cache and the last resourceVersion are kept for a restart."""
        self._stopping.set()
        watch = self._watch
        if watch is not None:
            watch.stop()
        if self._thread is not None:
            self._thread.join(timeout=self._watch_timeout + 5)
            self._thread = None

    # ---- the loop --------------------------------------------------------------------
    def _run(self) -> None:
        failure: str | None = None
        delay = self._retry_delay
        while not self._stopping.is_set():
            try:
                if not self._version:
                    self._version = self._relist()
                if failure is not None:
                    log.info("watch of %s works again", self.name)
                    failure, delay = None, self._retry_delay
                self._version = self._follow(self._version)
            except _Expired:
                log.info("watch of %s expired (410): listing again", self.name)
                self._version = ""
            except (k8s_client.ApiException, urllib3.exceptions.HTTPError, OSError) as error:
                if self._stopping.is_set():
                    return
                if getattr(error, "status", None) == _NOT_SERVED:
                    # the kind is not served (its CRD deleted, the server emptied): readers
                    # go to the server, which says so, until a list succeeds again
                    self.synced.clear()
                    self._version = ""
                text = f"{type(error).__name__}: {_one_line(error)}"
                if text != failure:  # once per kind of failure, not once per retry
                    log.warning("watch of %s failed, retrying: %s", self.name, text)
                    failure = text
                self._stopping.wait(delay)
                delay = min(delay * 2, _LONGEST_RETRY)
            except Exception:  # the cache must outlive any surprise; the log says what
                log.exception("watch of %s broke, listing again", self.name)
                self._version = ""
                self._stopping.wait(self._retry_delay)

    def _relist(self) -> str:
        response = self._list_call(_request_timeout=60, _preload_content=False)
        try:
            listed: JsonObject = json.loads(response.data)
        except ValueError as error:
            raise OSError(f"the list of {self.name} is not JSON: {error}") from None
        finally:
            response.release_conn()
        self.lists += 1
        fresh = {key_of(item): item for item in listed.get("items") or []}
        with self._lock:
            before = self._objects
            self._objects = fresh
        self.synced.set()
        for key in before.keys() - fresh.keys():
            self._notify(key, before[key], None)
        for key, obj in fresh.items():
            old = before.get(key)
            if old is None or _version(old) != _version(obj):
                self._notify(key, old, obj)
        return str((listed.get("metadata") or {}).get("resourceVersion") or "")

    def _follow(self, version: str) -> str:
        """One watch until it ends; returns the last resourceVersion seen."""
        watch = k8s_watch.Watch()
        self._watch = watch
        try:
            for event in watch.stream(
                _untyped(self._list_call),
                resource_version=version,
                allow_watch_bookmarks=True,
                timeout_seconds=self._watch_timeout,
            ):
                if self._stopping.is_set():
                    break
                kind = event["type"]
                obj: JsonObject = event["raw_object"]
                if kind == "ERROR":
                    if obj.get("code") == _GONE:
                        raise _Expired
                    raise k8s_client.ApiException(status=obj.get("code"), reason=obj.get("message"))
                version = _version(obj) or version
                self._version = version
                if kind == "BOOKMARK":
                    continue
                self._apply(kind, obj)
        except k8s_client.ApiException as error:
            if error.status == _GONE:
                raise _Expired from None
            raise
        finally:
            watch.stop()
            self._watch = None
        return version

    def _apply(self, kind: str, obj: JsonObject) -> None:
        key = key_of(obj)
        with self._lock:
            old = self._objects.get(key)
            if kind == "DELETED":
                self._objects.pop(key, None)
                new = None
            elif _newer_or_same(obj, old):
                self._objects[key] = obj
                new = obj
            else:
                return
        self._notify(key, old, new)

    def _notify(self, key: ObjectKey, old: JsonObject | None, new: JsonObject | None) -> None:
        if self._on_change is None:
            return
        try:
            self._on_change(key, old, new)
        except Exception:  # a handler's bug must not stop the cache
            log.exception("change handler of %s failed for %s/%s", self.name, *key)


def _version(obj: JsonObject) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")
