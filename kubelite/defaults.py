"""What the real server fills in or rewrites on a built-in object before storing it.

A client reading an object back sees the server's defaults, so the stand-in applies the ones
the project's users and tests can observe, as the real server's defaulting and
registry strategies do:

- Secret: ``stringData`` merged into ``data`` (base64) and dropped; ``type`` ``Opaque``
  when none is given.
- Namespace: ``spec.finalizers: [kubernetes]``, ``status.phase: Active`` and the
  ``kubernetes.io/metadata.name`` label.
- Deployment: ``progressDeadlineSeconds: 600``, ``revisionHistoryLimit: 10``, a
  ``RollingUpdate`` strategy of 25%/25%, and the pod template's defaults (restart and DNS
  policy, scheduler, grace period, empty security context; per container the image pull
  policy, ``Always`` for ``:latest`` or no tag, and the termination message settings).
- HorizontalPodAutoscaler (``autoscaling/v2``): ``minReplicas: 1``, a CPU target of 80%
  when no metric is given, and ``status.desiredReplicas: 0`` (``currentMetrics: null``) on
  create.
"""

from __future__ import annotations

import base64
from typing import Any

__all__ = ["apply_defaults"]

JsonObject = dict[str, Any]


def _secret(obj: JsonObject) -> None:
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        data = obj.setdefault("data", {}) or {}
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode("ascii")
        obj["data"] = data
    if not obj.get("type"):
        obj["type"] = "Opaque"


def _pull_policy(image: str) -> str:
    name = image.rsplit("/", 1)[-1]
    if "@" in name:
        return "IfNotPresent"
    tag = name.partition(":")[2]
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def _container(container: JsonObject) -> None:
    container.setdefault("imagePullPolicy", _pull_policy(str(container.get("image", ""))))
    container.setdefault("resources", {})
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    for port in container.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")


def _pod_spec(spec: JsonObject) -> None:
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or []:
            if isinstance(container, dict):
                _container(container)
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")


def _deployment(obj: JsonObject) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    spec.setdefault("replicas", 1)
    strategy = spec.setdefault("strategy", {}) or {}
    spec["strategy"] = strategy
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {}) or {}
        strategy["rollingUpdate"] = rolling
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    template = spec.get("template")
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        _pod_spec(template["spec"])


def _autoscaler(obj: JsonObject, *, created: bool) -> None:
    spec = obj.get("spec")
    if isinstance(spec, dict):
        spec.setdefault("minReplicas", 1)
        if not spec.get("metrics"):
            target = {"type": "Utilization", "averageUtilization": 80}
            spec["metrics"] = [{"type": "Resource", "resource": {"name": "cpu", "target": target}}]
    if created:
        obj["status"] = {"currentMetrics": None, "desiredReplicas": 0}


def _namespace(obj: JsonObject, *, created: bool) -> None:
    if created:
        spec = obj.setdefault("spec", {}) or {}
        obj["spec"] = spec
        spec.setdefault("finalizers", ["kubernetes"])
        obj["status"] = {"phase": "Active"}
    labels = obj["metadata"].setdefault("labels", {}) or {}
    labels["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
    obj["metadata"]["labels"] = labels


def apply_defaults(key: tuple[str, str], obj: JsonObject, *, created: bool) -> None:
    """Fill in the server's defaults on a built-in object (``key``: group, plural)."""
    if key == ("", "secrets"):
        _secret(obj)
    elif key == ("", "namespaces"):
        _namespace(obj, created=created)
    elif key == ("apps", "deployments"):
        _deployment(obj)
    elif key == ("autoscaling", "horizontalpodautoscalers"):
        _autoscaler(obj, created=created)
