"""The Gateway API world of the router tests: HTTPRoutes and the Services they send to,
created through the API server as a user would, and a rollout that manages one."""

from __future__ import annotations

from typing import Any

import kubernetes

from rollout.mesh.gateway import GATEWAY_GROUP
from rollout.spec.rollout import Rollout
from tests.kube_clients import CustomObjects, as_body
from tests.mesh.objects import HOST, NAMESPACE, http_route, service

JsonObject = dict[str, Any]


def gateway_rollout(route: str, *steps: JsonObject) -> Rollout:
    return Rollout.model_validate(
        {
            "apiVersion": "canary.rollout.dev/v1alpha1",
            "kind": "Rollout",
            "metadata": {"name": route, "namespace": NAMESPACE},
            "spec": {
                "version": "v2",
                "traffic": {
                    "host": HOST,
                    "httpRoutes": [
                        {
                            "name": route,
                            "stableService": "checkout-primary",
                            "canaryService": "checkout-canary",
                        }
                    ],
                },
                **({"steps": list(steps)} if steps else {}),
            },
        }
    )


class Routes:
    """The two HTTPRoutes, and the two Services both send to (stable and canary, each
    selecting v1's pods as the user made them)."""

    def __init__(self, objects: CustomObjects, api_client: Any) -> None:
        self.objects = objects
        self.core = kubernetes.client.CoreV1Api(api_client)
        self.api_client = api_client
        for name in ("checkout", "plain"):
            objects.create_namespaced_custom_object(
                GATEWAY_GROUP, "v1", NAMESPACE, "httproutes", http_route(name)
            )
        for name in ("checkout-primary", "checkout-canary"):
            self.core.create_namespaced_service(NAMESPACE, as_body(service(name, "v1")))

    def read(self, name: str) -> JsonObject:
        found: JsonObject = self.objects.get_namespaced_custom_object(
            GATEWAY_GROUP, "v1", NAMESPACE, "httproutes", name
        )
        return found

    def service(self, name: str) -> JsonObject:
        found: JsonObject = self.api_client.sanitize_for_serialization(
            self.core.read_namespaced_service(name, NAMESPACE)
        )
        return found


def selector_version(service: JsonObject) -> str | None:
    version: str | None = service["spec"]["selector"].get("version")
    return version
