"""Objects the local API server's tests create: Istio VirtualServices (a kind the server
serves from the start) and ``Widget``, a small custom kind of ``example.test``."""

from __future__ import annotations

import json
from typing import Any

from kubernetes.client.exceptions import ApiException

from kubelite import crd_manifest
from tests.kube_clients import CustomObjects, Kubectl

__all__ = [
    "GROUP",
    "NAMESPACE",
    "PLURAL",
    "WIDGET_CRD",
    "WIDGET_GROUP",
    "create_vs",
    "status_of",
    "virtual_service",
]

WIDGET_GROUP = "example.test"
WIDGET_CRD: dict[str, Any] = crd_manifest(
    group=WIDGET_GROUP,
    kind="Widget",
    plural="widgets",
    versions=("v1",),
    short_names=("wd",),
    status_subresource=True,
    printer_columns=(
        {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    ),
)

GROUP, NAMESPACE, PLURAL = "networking.istio.io", "default", "virtualservices"


def virtual_service(
    name: str, *, weights: tuple[int, int] = (100, 0), **labels: str
) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "VirtualService",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "hosts": [name],
            "http": [
                {
                    "route": [
                        {"destination": {"host": name, "subset": "stable"}, "weight": weights[0]},
                        {"destination": {"host": name, "subset": "canary"}, "weight": weights[1]},
                    ]
                }
            ],
        },
    }


def status_of(error: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(error.body or "")
    return body


def create_vs(custom: CustomObjects, body: dict[str, Any], version: str = "v1") -> dict[str, Any]:
    created: dict[str, Any] = custom.create_namespaced_custom_object(
        GROUP, version, NAMESPACE, PLURAL, body
    )
    return created


def get_json(kubectl: Kubectl, *args: str) -> dict[str, Any]:
    """``kubectl get ARGS -o json``, parsed."""
    document: dict[str, Any] = json.loads(kubectl("get", *args, "-o", "json").stdout)
    return document
