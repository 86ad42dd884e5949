"""Realistic Istio objects and a Rollout for the router tests.

The mesh VirtualService carries what real ones do: matches, retries, timeouts, header
rewrites, a mirror, a destination to another host at weight 0, several routes of which only
``primary`` and ``fallback`` are managed (``canary-header`` has the host but is not listed,
``static`` goes elsewhere), labels and annotations.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from kubelite import LocalApiServer
from rollout.spec.rollout import Rollout
from tests.kube_clients import CustomObjects

NAMESPACE = "shop"
GATEWAY_NAMESPACE = "edge"
HOST = "checkout.shop.svc.cluster.local"
ISTIO_GROUP = "networking.istio.io"
MANAGED_ROUTES = ("primary", "fallback")

# creates one Istio object through the API (the ``create`` fixture); returns it as stored
Create = Callable[[dict[str, Any]], dict[str, Any]]
PRIMARY, STATIC, FALLBACK = 1, 2, 3  # indexes in spec.http; primary and fallback are managed

JsonObject = dict[str, Any]


def mesh_virtual_service(name: str = "checkout", *, version: str = "v1") -> JsonObject:
    return {
        "apiVersion": f"{ISTIO_GROUP}/{version}",
        "kind": "VirtualService",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "labels": {"app.kubernetes.io/name": "checkout", "team": "payments"},
            "annotations": {
                "argocd.argoproj.io/tracking-id": (
                    "shop:networking.istio.io/VirtualService:shop/checkout"
                ),
                "owner": "payments@example.com",
            },
        },
        "spec": {
            "hosts": [HOST, "checkout"],
            "gateways": ["mesh"],
            "http": [
                {
                    "name": "canary-header",
                    "match": [{"headers": {"x-canary": {"exact": "always"}}}],
                    "route": [{"destination": {"host": HOST, "subset": "v1"}}],
                },
                {
                    "name": "primary",
                    "match": [{"uri": {"prefix": "/api"}}, {"uri": {"exact": "/health"}}],
                    "retries": {"attempts": 3, "perTryTimeout": "2s", "retryOn": "5xx,reset"},
                    "timeout": "10s",
                    "headers": {
                        "request": {"set": {"x-route": "primary"}},
                        "response": {"remove": ["x-internal"]},
                    },
                    "mirror": {
                        "host": "checkout-shadow.shop.svc.cluster.local",
                        "port": {"number": 9090},
                    },
                    "mirrorPercentage": {"value": 10.0},
                    "route": [
                        {
                            "destination": {"host": HOST, "subset": "v1", "port": {"number": 8080}},
                            "weight": 100,
                            "headers": {"response": {"set": {"x-served-by": "checkout"}}},
                        },
                        {
                            "destination": {
                                "host": "legacy-checkout.shop.svc.cluster.local",
                                "port": {"number": 80},
                            },
                            "weight": 0,
                        },
                    ],
                },
                {
                    "name": "static",
                    "match": [{"uri": {"prefix": "/static"}}],
                    "timeout": "5s",
                    "route": [{"destination": {"host": "static.shop.svc.cluster.local"}}],
                },
                {
                    "name": "fallback",
                    "route": [
                        {
                            "destination": {
                                "host": "checkout",
                                "subset": "v1",
                                "port": {"number": 8080},
                            }
                        }
                    ],
                    "retries": {"attempts": 1},
                },
            ],
        },
    }


def gateway_virtual_service(name: str = "checkout-gateway") -> JsonObject:
    """The public entry: one unnamed route through the ingress gateway, in another namespace,
    to the host without a subset (as before any rollout: the router adopts it as stable)."""
    return {
        "apiVersion": f"{ISTIO_GROUP}/v1",
        "kind": "VirtualService",
        "metadata": {"name": name, "namespace": GATEWAY_NAMESPACE, "labels": {"tier": "edge"}},
        "spec": {
            "hosts": ["shop.example.com"],
            "gateways": ["istio-system/public"],
            "http": [
                {
                    "match": [{"uri": {"prefix": "/checkout"}}],
                    "rewrite": {"uri": "/"},
                    "corsPolicy": {"allowOrigins": [{"exact": "https://shop.example.com"}]},
                    "route": [{"destination": {"host": HOST}, "weight": 100}],
                }
            ],
        },
    }


def destination_rule(*subsets: str, name: str = "checkout", version: str = "v1") -> JsonObject:
    return {
        "apiVersion": f"{ISTIO_GROUP}/{version}",
        "kind": "DestinationRule",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "host": HOST,
            "trafficPolicy": {"connectionPool": {"http": {"http2MaxRequests": 1000}}},
            "subsets": [{"name": s, "labels": {"version": s}} for s in subsets],
        },
    }


def make_rollout(
    *,
    virtual_services: list[JsonObject] | None = None,
    version: str = "v2",
    destination_rule_name: str = "checkout",
) -> Rollout:
    refs = virtual_services or [{"name": "checkout", "routes": list(MANAGED_ROUTES)}]
    return Rollout.model_validate(
        {
            "apiVersion": "canary.rollout.dev/v1alpha1",
            "kind": "Rollout",
            "metadata": {"name": "checkout", "namespace": NAMESPACE},
            "spec": {
                "version": version,
                "traffic": {
                    "host": HOST,
                    "virtualServices": copy.deepcopy(refs),
                    "destinationRule": destination_rule_name,
                },
            },
        }
    )


def effective_weights(route: JsonObject) -> list[int]:
    """Istio's reading of a route's weights (a lone destination without weight has 100)."""
    entries = route.get("route") or []
    if len(entries) == 1 and "weight" not in entries[0]:
        return [100]
    return [int(entry.get("weight", 0)) for entry in entries]


def subset_weights(route: JsonObject) -> dict[str, int]:
    """Weight by subset for the destinations of the checkout host."""
    weights = effective_weights(route)
    found: dict[str, int] = {}
    for entry, weight in zip(route.get("route") or [], weights, strict=True):
        if entry["destination"]["host"] in (HOST, "checkout"):
            found[entry["destination"].get("subset", "")] = weight
    return found


def http_route(name: str = "checkout", *, namespace: str = NAMESPACE) -> JsonObject:
    """A Gateway API HTTPRoute: a rule to another Service, and a rule to the stable Service
    with a filter of the user's (the weighted rule the Gateway API router manages)."""
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": "checkout"}},
        "spec": {
            "parentRefs": [{"name": "public", "namespace": GATEWAY_NAMESPACE}],
            "hostnames": ["checkout.example.com"],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/admin"}}],
                    "backendRefs": [{"name": "admin", "port": 8080}],
                },
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    "filters": [
                        {
                            "type": "RequestHeaderModifier",
                            "requestHeaderModifier": {"set": [{"name": "x-gw", "value": "1"}]},
                        }
                    ],
                    "backendRefs": [{"name": "checkout-primary", "port": 80}],
                },
            ],
        },
    }


def service(name: str, version: str | None, *, namespace: str = NAMESPACE) -> JsonObject:
    """A Service an HTTPRoute sends to, selecting one version's pods (all of the app's
    pods when ``version`` is None)."""
    selector = {"app": "checkout"} | ({"version": version} if version else {})
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": "checkout"}},
        "spec": {"selector": selector, "ports": [{"port": 80, "targetPort": 8080}]},
    }


def read_vs(
    objects: CustomObjects, name: str = "checkout", namespace: str = NAMESPACE
) -> dict[str, Any]:
    """The VirtualService ``name`` as the API server holds it now."""
    found: dict[str, Any] = objects.get_namespaced_custom_object(
        ISTIO_GROUP, "v1", namespace, "virtualservices", name
    )
    return found


def patch_requests(apiserver: LocalApiServer) -> list[Any]:
    """The PATCH requests the local API server received, oldest first."""
    return [r for r in apiserver.requests if r.verb == "patch"]
