"""The ``scale`` subresource: a Deployment's replicas seen and set as an ``autoscaling/v1``
``Scale``, as the real server serves ``deployments/scale``.

``GET`` answers the Scale of the Deployment; ``PATCH`` applies the patch to that Scale and
``PUT`` replaces it, and either writes the Scale's ``spec.replicas`` into the Deployment
(a spec change: its generation moves). A ``metadata.resourceVersion`` in the new Scale
must match the Deployment's, or the write is a 409 as on the real server. Pure functions
over JSON objects; the handler runs them inside the store's atomic update.
"""

from __future__ import annotations

import copy
from typing import Any

from kubelite import status

__all__ = ["SCALE_API_VERSION", "apply_scale", "scale_of", "selector_string"]

JsonObject = dict[str, Any]

SCALE_API_VERSION = "autoscaling/v1"
_SCALE_METADATA = ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")


def selector_string(selector: JsonObject | None) -> str:
    """A label selector as the real server prints it in ``status.selector``: its
    ``matchLabels`` as ``key=value`` pairs in key order, then its expressions."""
    if not selector:
        return ""
    parts = [f"{key}={value}" for key, value in sorted((selector.get("matchLabels") or {}).items())]
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression.get("key", ""), expression.get("operator", "")
        values = ",".join(sorted(expression.get("values") or []))
        if operator == "In":
            parts.append(f"{key} in ({values})")
        elif operator == "NotIn":
            parts.append(f"{key} notin ({values})")
        elif operator == "Exists":
            parts.append(key)
        elif operator == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(sorted(parts))


def scale_of(deployment: JsonObject) -> JsonObject:
    """The ``Scale`` of ``deployment``: its replicas asked for and seen, and its selector."""
    metadata = deployment.get("metadata") or {}
    spec = deployment.get("spec") or {}
    replicas = spec.get("replicas")
    scale_spec: JsonObject = {"replicas": replicas} if replicas else {}
    scale_status: JsonObject = {
        "replicas": int((deployment.get("status") or {}).get("replicas") or 0)
    }
    selector = selector_string(spec.get("selector"))
    if selector:
        scale_status["selector"] = selector
    return {
        "kind": "Scale",
        "apiVersion": SCALE_API_VERSION,
        "metadata": {key: metadata[key] for key in _SCALE_METADATA if key in metadata},
        "spec": scale_spec,
        "status": scale_status,
    }


def apply_scale(deployment: JsonObject, scale: JsonObject) -> JsonObject:
    """``deployment`` with the replicas of ``scale`` (a 422 for a negative or non-integer
    count); the Scale's resourceVersion, when given, is carried for the store to check."""
    spec = scale.get("spec") or {}
    replicas = spec.get("replicas", 0)
    name = str((deployment.get("metadata") or {}).get("name", ""))
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise status.invalid(
            kind="Scale",
            group="autoscaling",
            name=name,
            field="spec.replicas",
            value=str(replicas),
            detail="must be greater than or equal to 0",
            cause="FieldValueInvalid",
        )
    updated = copy.deepcopy(deployment)
    updated.setdefault("spec", {})["replicas"] = replicas
    given = (scale.get("metadata") or {}).get("resourceVersion")
    updated["metadata"]["resourceVersion"] = given or deployment["metadata"]["resourceVersion"]
    return updated
