"""Kubernetes Events on the Rollout, for ``kubectl describe`` and Argo CD's resource view.

Each (object, type, reason, message) gets one ``v1`` Event with a stable name; recording
it again bumps ``count`` and ``lastTimestamp``, as client-go's event correlator does, so a
rollout held at one step for an hour shows "x60" rather than sixty rows. Failures to
record are reported as :class:`~rollout.errors.ClusterError`; callers log and go on, since
an Event is a courtesy and never blocks a rollout.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Callable
from typing import Any

from kubernetes import client as k8s_client

from rollout import GROUP_VERSION
from rollout.effects import RecordEvent
from rollout.errors import Conflict, NotFound
from rollout.kube.rollout_resource import KIND
from rollout.kubeapi import errors, json_call
from rollout.kubeapi.client import REQUEST_TIMEOUT, as_json

__all__ = ["COMPONENT", "EventRecorder", "event_name"]

COMPONENT = "rollout-controller"
MAX_MESSAGE = 1024
MAX_BUMP_ATTEMPTS = 5
JSON_PATCH = "application/json-patch+json"


def _utc_now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def event_name(rollout_name: str, uid: str, event_type: str, reason: str, message: str) -> str:
    """The stable name of an Event: the object's name and a digest of what it says."""
    digest = hashlib.sha256("\0".join((uid, event_type, reason, message)).encode()).hexdigest()
    return f"{rollout_name[:200]}.{digest[:16]}"


class EventRecorder:
    """Creates and de-duplicates Events about Rollouts (:class:`rollout.ports.EventSink`)."""

    def __init__(
        self,
        api: k8s_client.ApiClient,
        *,
        component: str = COMPONENT,
        clock: Callable[[], str] = _utc_now,
    ) -> None:
        self._core = k8s_client.CoreV1Api(api)
        self._api = api
        self._component = component
        self._clock = clock

    def record(self, namespace: str, name: str, uid: str, event: RecordEvent) -> str:
        """Record an Event on the Rollout ``namespace/name``; returns the Event's name."""
        rollout_name, reason = name, event.reason
        event_type = "Warning" if event.warning else "Normal"
        message = event.message[:MAX_MESSAGE]
        name = event_name(rollout_name, uid, event_type, reason, message)
        now = self._clock()
        involved: dict[str, Any] = {
            "apiVersion": GROUP_VERSION,
            "kind": KIND,
            "name": rollout_name,
            "namespace": namespace,
        }
        if uid:
            involved["uid"] = uid
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "type": event_type,
            "count": 1,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "source": {"component": self._component},
            "reportingComponent": self._component,
            "reportingInstance": self._component,
        }
        action = f"recording event {reason} on rollout {namespace}/{rollout_name}"
        try:
            with errors.translated(action):
                json_call.send(self._api, "POST", json_call.EVENTS, {"namespace": namespace}, body)
            return name
        except Conflict:
            pass  # already recorded: count it once more
        self._bump(namespace, name, now, action)
        return name

    def _bump(self, namespace: str, name: str, now: str, action: str) -> None:
        for attempt in range(1, MAX_BUMP_ATTEMPTS + 1):
            with errors.translated(action):
                current = as_json(
                    self._api,
                    self._core.read_namespaced_event(
                        name, namespace, _request_timeout=REQUEST_TIMEOUT
                    ),
                )
            count = int(current.get("count") or 1)
            patch = [
                {
                    "op": "test",
                    "path": "/metadata/resourceVersion",
                    "value": current["metadata"]["resourceVersion"],
                },
                {"op": "add", "path": "/count", "value": count + 1},
                {"op": "add", "path": "/lastTimestamp", "value": now},
            ]
            try:
                with errors.translated(action):
                    self._core.patch_namespaced_event(
                        name,
                        namespace,
                        patch,
                        _content_type=JSON_PATCH,
                        _request_timeout=REQUEST_TIMEOUT,
                    )
                return
            except Conflict:
                if attempt == MAX_BUMP_ATTEMPTS:
                    raise
            except NotFound:
                return  # expired between read and patch; the next one starts afresh
