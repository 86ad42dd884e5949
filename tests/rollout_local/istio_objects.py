"""Builders for the Istio objects the data-plane tests feed the translator and the API server."""

from __future__ import annotations

from typing import Any

from rollout.spec.rollout import Rollout

NAMESPACE = "demo"
HOST = "checkout.demo.svc.cluster.local"


def weighted_route(name: str, *weights: tuple[str, int]) -> dict[str, Any]:
    """An Istio HTTPRoute sending ``weight`` percent to each ``subset`` of ``checkout``."""
    return {
        "name": name,
        "route": [
            {"destination": {"host": "checkout", "subset": subset}, "weight": weight}
            for subset, weight in weights
        ],
    }


def virtual_service(
    *routes: dict[str, Any], name: str = "checkout", hosts: tuple[str, ...] = ("checkout",)
) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"hosts": list(hosts), "http": list(routes)},
    }


def destination_rule(*subsets: str, name: str = "checkout") -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "DestinationRule",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "host": "checkout",
            "subsets": [{"name": subset, "labels": {"version": subset}} for subset in subsets],
        },
    }


def checkout_rollout(traffic: dict[str, Any]) -> Rollout:
    """A rollout of checkout to v2 in the demo namespace, over ``traffic``."""
    return Rollout.model_validate(
        {
            "apiVersion": "canary.rollout.dev/v1alpha1",
            "kind": "Rollout",
            "metadata": {"name": "checkout", "namespace": NAMESPACE},
            "spec": {"version": "v2", "traffic": traffic},
        }
    )
