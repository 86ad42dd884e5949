"""The CRDs a mesh-enabled cluster already has: Istio's VirtualService and DestinationRule,
and the Gateway API's HTTPRoute (``gateway.networking.k8s.io``, v1 and v1beta1).

The local API server applies these at start, through the same path as any applied CRD, so
``kubectl get crd`` lists them and discovery shows ``networking.istio.io`` with versions
v1, v1beta1 and v1alpha3 (all served, one storage), short names ``vs`` and ``dr``, and the
printer columns Istio's own CRDs declare.
"""

from __future__ import annotations

from typing import Any

from kubelite.crds import crd_manifest

__all__ = ["BUILTIN_CRDS", "GATEWAY_CRDS", "ISTIO_CRDS", "ISTIO_GROUP", "ISTIO_VERSIONS"]

ISTIO_GROUP = "networking.istio.io"
ISTIO_VERSIONS = ("v1", "v1beta1", "v1alpha3")
_ISTIO_CATEGORIES = ("istio-io", "networking-istio-io")


def _column(name: str, json_path: str, description: str, type_: str = "string") -> dict[str, Any]:
    return {"name": name, "type": type_, "jsonPath": json_path, "description": description}


_AGE = _column(
    "Age",
    ".metadata.creationTimestamp",
    "CreationTimestamp is a timestamp representing the server time when this object was created.",
    "date",
)

VIRTUAL_SERVICE_CRD = crd_manifest(
    group=ISTIO_GROUP,
    kind="VirtualService",
    plural="virtualservices",
    versions=ISTIO_VERSIONS,
    storage_version="v1alpha3",
    short_names=("vs",),
    categories=_ISTIO_CATEGORIES,
    status_subresource=True,
    printer_columns=(
        _column("Gateways", ".spec.gateways", "The names of gateways and sidecars that should "
                "apply these routes"),
        _column("Hosts", ".spec.hosts", "The destination hosts to which traffic is being sent"),
        _AGE,
    ),
)  # fmt: skip

DESTINATION_RULE_CRD = crd_manifest(
    group=ISTIO_GROUP,
    kind="DestinationRule",
    plural="destinationrules",
    versions=ISTIO_VERSIONS,
    storage_version="v1alpha3",
    short_names=("dr",),
    categories=_ISTIO_CATEGORIES,
    status_subresource=True,
    printer_columns=(
        _column("Host", ".spec.host", "The name of a service from the service registry"),
        _AGE,
    ),
)

ISTIO_CRDS: tuple[dict[str, Any], ...] = (VIRTUAL_SERVICE_CRD, DESTINATION_RULE_CRD)

HTTP_ROUTE_CRD = crd_manifest(
    group="gateway.networking.k8s.io",
    kind="HTTPRoute",
    plural="httproutes",
    versions=("v1", "v1beta1"),
    categories=("gateway-api",),
    status_subresource=True,
    printer_columns=(_column("Hostnames", ".spec.hostnames", "The hostnames of the route"), _AGE),
)

HTTP_ROUTE_CRD["metadata"]["annotations"] = {
    # A *.k8s.io group: the real API server refuses its CRD without this, as upstream's has.
    "api-approved.kubernetes.io": "https://github.com/kubernetes-sigs/gateway-api/pull/3328",
    "gateway.networking.k8s.io/bundle-version": "v1.2.0",
}

GATEWAY_CRDS: tuple[dict[str, Any], ...] = (HTTP_ROUTE_CRD,)
BUILTIN_CRDS: tuple[dict[str, Any], ...] = ISTIO_CRDS + GATEWAY_CRDS
