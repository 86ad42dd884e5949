"""What the dashboard asks the API server: Rollouts, their Events, commands, and RBAC.

:class:`DashboardReads` reads Rollouts and requests commands through the same
:class:`~rollout.kube.store.KubeStateStore` the CLI's ``promote``/``abort``/``retry`` use,
and lists the Kubernetes Events about one Rollout for its timeline.
:class:`KubeAccessReview` asks the API server who a bearer token belongs to (TokenReview)
and whether that user may ``get`` or ``patch`` Rollouts in a namespace
(SubjectAccessReview), so the controller's dashboard defers to Kubernetes RBAC. The
controller's account needs ``create`` on ``tokenreviews`` and ``subjectaccessreviews``
(the built-in ``system:auth-delegator`` ClusterRole) for that.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Mapping
from typing import Any, cast

from kubernetes import client as k8s_client

from rollout import API_GROUP
from rollout.errors import ClusterError
from rollout.kube.rollout_resource import CommandAction
from rollout.kube.store import KubeStateStore
from rollout.kubeapi import errors
from rollout.kubeapi.client import REQUEST_TIMEOUT, as_json
from rollout.ports import Stored
from rollout.state import Command

__all__ = ["DashboardReads", "KubeAccessReview"]

log = logging.getLogger(__name__)
_EVENTS_SHOWN = 50


class DashboardReads:
    """Rollouts, their Events, and people's commands, for the dashboard."""

    def __init__(self, api: k8s_client.ApiClient, store: KubeStateStore | None = None) -> None:
        self.api = api
        self.store = store or KubeStateStore(api)

    def list_rollouts(self, namespace: str | None = None) -> list[Stored]:
        return self.store.list_rollouts(namespace)

    def load(self, namespace: str, name: str) -> Stored:
        return self.store.load(namespace, name)

    def request_command(self, namespace: str, name: str, action: str, by: str) -> Command:
        if action not in ("promote", "promote-full", "abort", "retry"):
            raise ValueError(f"unknown action {action!r}")
        command_action: CommandAction = action  # type: ignore[assignment]
        return self.store.request_command(namespace, name, command_action, by)

    def events(self, namespace: str, name: str) -> list[dict[str, Any]]:
        """The Events about this Rollout, newest first: time, type, reason, message."""
        selector = f"involvedObject.name={name},involvedObject.kind=Rollout"
        with errors.translated(f"listing the events of rollout {namespace}/{name}"):
            listed = k8s_client.CoreV1Api(self.api).list_namespaced_event(
                namespace, field_selector=selector, _request_timeout=REQUEST_TIMEOUT
            )
        found = []
        for item in as_json(self.api, listed).get("items", []):
            when = item.get("lastTimestamp") or item.get("eventTime") or ""
            count = int(item.get("count") or 1)
            found.append(
                {
                    "at": _seconds(when),
                    "type": item.get("type", ""),
                    "reason": item.get("reason", ""),
                    "message": item.get("message", "") + (f" (x{count})" if count > 1 else ""),
                }
            )
        return sorted(found, key=lambda event: event["at"], reverse=True)[:_EVENTS_SHOWN]


class KubeAccessReview:
    """TokenReview and SubjectAccessReview against the API server."""

    def __init__(self, api: k8s_client.ApiClient) -> None:
        self.api = api

    def review_token(self, token: str) -> Mapping[str, Any] | None:
        body = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": {"token": token},
        }
        try:
            with errors.translated("reviewing a dashboard sign-in token"):
                answer = k8s_client.AuthenticationV1Api(self.api).create_token_review(
                    cast(Any, body), _request_timeout=REQUEST_TIMEOUT
                )
        except ClusterError as error:
            log.warning("dashboard sign-in refused: %s", error)
            return None
        status = as_json(self.api, answer).get("status") or {}
        user = status.get("user") or {}
        if not status.get("authenticated") or not user.get("username"):
            return None
        return {
            "username": user["username"],
            "uid": user.get("uid", ""),
            "groups": list(user.get("groups") or []),
            "extra": dict(user.get("extra") or {}),
        }

    def allowed(self, identity: Mapping[str, Any], verb: str, namespace: str) -> bool:
        body = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": identity.get("username", ""),
                "uid": identity.get("uid", ""),
                "groups": list(identity.get("groups") or []),
                "extra": dict(identity.get("extra") or {}),
                "resourceAttributes": {
                    "group": API_GROUP,
                    "resource": "rollouts",
                    "verb": verb,
                    "namespace": namespace,
                },
            },
        }
        try:
            with errors.translated(f"reviewing {verb} rollouts in {namespace}"):
                answer = k8s_client.AuthorizationV1Api(self.api).create_subject_access_review(
                    cast(Any, body), _request_timeout=REQUEST_TIMEOUT
                )
        except ClusterError as error:
            log.warning("dashboard access check failed, so refused: %s", error)
            return False
        return bool((as_json(self.api, answer).get("status") or {}).get("allowed"))


def _seconds(timestamp: str) -> float:
    try:
        return datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0
