"""The Gateway API traffic router: weights, header rules and mirrors in HTTPRoutes.

Behind :class:`rollout.ports.Router` as the Istio router is, for the ``httpRoutes`` of a
rollout's traffic: each weight change is ONE JSON patch per HTTPRoute, planned by
:mod:`rollout.mesh.gateway_routes` (only our backendRefs, header rule and mirror filter,
guarded by ``test`` ops), every HTTPRoute planned before the first is patched, so a broken
one leaves the others untouched. A conflict (422 from a ``test`` op, or 409) is answered
by re-reading and planning again, within a number of attempts and a deadline, as the
Istio router does (:mod:`rollout.mesh.guarded_patch` serves both).

HTTPRoutes are read from the server on each call (no list+watch cache yet), and
``read_weights`` reports none of them: HTTPRoute backends are Services, not versions, so
the drift check does not see an HTTPRoute's weights yet.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from kubernetes import client as k8s_client

from rollout.effects import SetWeights
from rollout.errors import ClusterError, NotFound, TrafficConfigError
from rollout.kubeapi import errors
from rollout.kubeapi.client import REQUEST_TIMEOUT, json_object
from rollout.mesh import guarded_patch
from rollout.mesh.gateway_routes import GatewayTarget, plan_http_route
from rollout.ports import RouteWeights
from rollout.spec.rollout import Rollout
from rollout.spec.routing import Routing
from rollout.spec.traffic import HTTPRouteRef

__all__ = ["GATEWAY_GROUP", "GatewayRouter"]

GATEWAY_GROUP = "gateway.networking.k8s.io"
GATEWAY_VERSION = "v1"
JSON_PATCH = "application/json-patch+json"

JsonObject = dict[str, Any]


class GatewayRouter:
    """:class:`rollout.ports.Router`: moves a rollout's traffic by patching its HTTPRoutes."""

    def __init__(
        self,
        api: k8s_client.ApiClient,
        *,
        max_attempts: int = 20,
        retry_deadline: float = 15.0,
        sleep: Callable[[float], None] = time.sleep,
        jitter: random.Random | None = None,
    ) -> None:
        self._objects = k8s_client.CustomObjectsApi(api)
        self._retry = guarded_patch.RetryPolicy(
            max_attempts, retry_deadline, sleep, jitter or random.Random()
        )
        self.patches_sent = 0

    def start_caches(self) -> None:
        """Nothing kept in memory yet: every call reads its HTTPRoutes."""

    def stop_caches(self) -> None:
        """Nothing kept in memory yet."""

    def _read(self, namespace: str, name: str) -> JsonObject:
        label = f"HTTPRoute {namespace}/{name}"
        try:
            with errors.translated(f"reading {label}"):
                return json_object(
                    self._objects.get_namespaced_custom_object(
                        GATEWAY_GROUP,
                        GATEWAY_VERSION,
                        namespace,
                        "httproutes",
                        name,
                        _request_timeout=REQUEST_TIMEOUT,
                    )
                )
        except NotFound as error:
            raise NotFound(f"{label} not found") from error

    def _target(
        self,
        rollout: Rollout,
        ref: HTTPRouteRef,
        canary: str | None,
        weight: int,
        routing: Routing | None,
    ) -> GatewayTarget:
        return GatewayTarget(
            stable_service=ref.stable_service,
            canary_service=ref.canary_service,
            canary_active=canary is not None,
            canary_weight=weight,
            owner=f"{rollout.namespace}.{rollout.name}",
            routing=routing,
        )

    def check(self, rollout: Rollout, stable: str, canary: str | None) -> list[str]:
        """Problems with the HTTPRoutes, each naming its object."""
        problems: list[str] = []
        target_canary = canary if canary != stable else None
        for ref in rollout.spec.traffic.http_routes:
            namespace = ref.namespace or rollout.namespace
            try:
                route = self._read(namespace, ref.name)
            except ClusterError as error:
                problems.append(str(error))
                continue
            plan = plan_http_route(route, self._target(rollout, ref, target_canary, 0, None))
            problems.extend(f"HTTPRoute {namespace}/{ref.name} {found}" for found in plan.problems)
        return problems

    def set_weights(self, rollout: Rollout, weights: SetWeights) -> None:
        """Make every managed HTTPRoute carry ``weights``; plan all before any write."""
        planned: list[tuple[str, str, GatewayTarget, JsonObject]] = []
        problems: list[str] = []
        for ref in rollout.spec.traffic.http_routes:
            namespace = ref.namespace or rollout.namespace
            target = self._target(
                rollout, ref, weights.canary_version, weights.canary_weight, weights.routing
            )
            try:
                route = self._read(namespace, ref.name)
            except NotFound as error:
                problems.append(str(error))
                continue
            plan = plan_http_route(route, target)
            problems.extend(f"HTTPRoute {namespace}/{ref.name} {found}" for found in plan.problems)
            planned.append((namespace, ref.name, target, route))
        if problems:
            raise TrafficConfigError(problems)
        for namespace, name, target, route in planned:
            self._apply(namespace, name, target, route)

    def _apply(self, namespace: str, name: str, target: GatewayTarget, route: JsonObject) -> None:
        """Send the planned patch; on conflict re-read, re-plan and retry (bounded)."""

        def send(operations: list[JsonObject]) -> None:
            self._objects.patch_namespaced_custom_object(
                GATEWAY_GROUP,
                GATEWAY_VERSION,
                namespace,
                "httproutes",
                name,
                operations,
                _content_type=JSON_PATCH,
                _request_timeout=REQUEST_TIMEOUT,
            )

        sent = guarded_patch.send_guarded(
            label=f"HTTPRoute {namespace}/{name}",
            current=route,
            plan=lambda current: plan_http_route(current, target),
            send=send,
            reread=lambda: self._read(namespace, name),
            retry=self._retry,
        )
        self.patches_sent += sent

    @property
    def conflicts_seen(self) -> int:
        """Conflicts answered by re-reading and planning again, since the start."""
        return self._retry.conflicts_seen

    def read_weights(self, rollout: Rollout) -> tuple[RouteWeights, ...]:
        """None yet: an HTTPRoute's backends are Services, not versions (module docstring)."""
        return ()
