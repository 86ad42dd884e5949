"""The Gateway API traffic router: weights, header rules and mirrors in HTTPRoutes.

Behind :class:`rollout.ports.Router` as the Istio router is, for the ``httpRoutes`` of a
rollout's traffic: each weight change is ONE JSON patch per HTTPRoute, planned by
:mod:`rollout.mesh.gateway_routes` (only our backendRefs, header rule and mirror filter,
guarded by ``test`` ops), every HTTPRoute planned before the first is patched, so a broken
one leaves the others untouched. A conflict (422 from a ``test`` op, or 409) is answered
by re-reading and planning again, within a number of attempts and a deadline, as the
Istio router does (:mod:`rollout.mesh.guarded_patch` serves both).

HTTPRoute backends are Services, so the router also points the stable and the canary
Service at their versions by the ``version`` label of their selectors
(:mod:`rollout.mesh.gateway_services`, which says in which order and why), and reads the
weights back by the versions those selectors pick, with the rollout's record annotation
written in the same patch as the weights: drift and adoption see an HTTPRoute as they see
a VirtualService.

While the controller leads, HTTPRoutes and Services are read from list+watch caches,
started on the first rollout that routes by HTTPRoute (a cluster without the Gateway API
CRDs, or without such rollouts, never lists them); a patch's answer goes into the cache
at once, as in the Istio router.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable
from typing import Any

from kubernetes import client as k8s_client

from rollout import route_record
from rollout.effects import SetWeights
from rollout.errors import ClusterError, NotFound, TrafficConfigError
from rollout.kubeapi import errors
from rollout.kubeapi.client import REQUEST_TIMEOUT, as_json, json_object
from rollout.kubeapi.object_cache import ObjectCache
from rollout.mesh import gateway_services, guarded_patch
from rollout.mesh.gateway_routes import GatewayTarget, plan_http_route, sends_to_canary
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
    """:class:`rollout.ports.Router`: moves a rollout's traffic by patching its HTTPRoutes
    and pointing their two Services at the stable and the canary version."""

    def __init__(
        self,
        api: k8s_client.ApiClient,
        *,
        max_attempts: int = 20,
        retry_deadline: float = 15.0,
        sleep: Callable[[float], None] = time.sleep,
        jitter: random.Random | None = None,
    ) -> None:
        self._api = api
        self._objects = k8s_client.CustomObjectsApi(api)
        self._core = k8s_client.CoreV1Api(api)
        self._retry = guarded_patch.RetryPolicy(
            max_attempts, retry_deadline, sleep, jitter or random.Random()
        )
        self._caches = {
            "httproutes": ObjectCache("httproutes"),
            "services": ObjectCache("services"),
        }
        self._caching = False
        self.patches_sent = 0

    # -- reading -------------------------------------------------------------------------

    def start_caches(self) -> None:
        """Read HTTPRoutes and Services from list+watch caches until ``stop_caches``,
        once a rollout routes by HTTPRoute."""
        self._caching = True

    def stop_caches(self) -> None:
        self._caching = False
        for cache in self._caches.values():
            cache.stop()

    def _start_caches_on_use(self) -> None:
        if not self._caching or self._caches["httproutes"].running:
            return
        self._caches["httproutes"].start(
            functools.partial(
                self._objects.list_cluster_custom_object,
                GATEWAY_GROUP,
                GATEWAY_VERSION,
                "httproutes",
            )
        )
        self._caches["services"].start(self._core.list_service_for_all_namespaces)

    def _get(self, plural: str, namespace: str, name: str) -> JsonObject:
        label = f"{'HTTPRoute' if plural == 'httproutes' else 'Service'} {namespace}/{name}"
        self._start_caches_on_use()
        known, cached = self._caches[plural].lookup(namespace, name)
        if known:
            if cached is None:
                raise NotFound(f"{label} not found")
            return cached
        try:
            with errors.translated(f"reading {label}"):
                if plural == "services":
                    return as_json(
                        self._api,
                        self._core.read_namespaced_service(
                            name, namespace, _request_timeout=REQUEST_TIMEOUT
                        ),
                    )
                return json_object(
                    self._objects.get_namespaced_custom_object(
                        GATEWAY_GROUP,
                        GATEWAY_VERSION,
                        namespace,
                        plural,
                        name,
                        _request_timeout=REQUEST_TIMEOUT,
                    )
                )
        except NotFound as error:
            raise NotFound(f"{label} not found") from error

    def _read(self, namespace: str, name: str) -> JsonObject:
        return self._get("httproutes", namespace, name)

    def _target(
        self,
        rollout: Rollout,
        ref: HTTPRouteRef,
        canary: str | None,
        weight: int,
        routing: Routing | None,
        record: str | None = None,
    ) -> GatewayTarget:
        return GatewayTarget(
            stable_service=ref.stable_service,
            canary_service=ref.canary_service,
            canary_active=canary is not None,
            canary_weight=weight,
            owner=f"{rollout.namespace}.{rollout.name}",
            routing=routing,
            record=(_record_key(rollout), record) if record is not None else None,
        )

    # -- checking ------------------------------------------------------------------------

    def check(self, rollout: Rollout, stable: str, canary: str | None) -> list[str]:
        """Problems with the HTTPRoutes and their Services, each naming its object."""
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
            wanted = [(ref.stable_service, stable)]
            wanted += [(ref.canary_service, target_canary)] if target_canary else []
            problems.extend(self._service_problems(namespace, wanted))
        return problems

    def _service_problems(self, namespace: str, wanted: list[tuple[str, str]]) -> list[str]:
        problems: list[str] = []
        for service_name, version in wanted:
            try:
                service = self._get("services", namespace, service_name)
            except ClusterError as error:
                problems.append(str(error))
                continue
            plan = gateway_services.plan_selector(service, version)
            label = f"Service {namespace}/{service_name}"
            problems.extend(f"{label} {found}" for found in plan.problems)
        return problems

    # -- writing -------------------------------------------------------------------------

    def set_weights(self, rollout: Rollout, weights: SetWeights) -> None:
        """Make every managed HTTPRoute (and its Services) carry ``weights``; plan all
        before any write."""
        planned: list[tuple[HTTPRouteRef, str, GatewayTarget, JsonObject]] = []
        problems: list[str] = []
        for ref in rollout.spec.traffic.http_routes:
            namespace = ref.namespace or rollout.namespace
            target = self._target(
                rollout,
                ref,
                weights.canary_version,
                weights.canary_weight,
                weights.routing,
                weights.record,
            )
            try:
                route = self._read(namespace, ref.name)
            except NotFound as error:
                problems.append(str(error))
                continue
            plan = plan_http_route(route, target)
            problems.extend(f"HTTPRoute {namespace}/{ref.name} {found}" for found in plan.problems)
            wanted = [(ref.stable_service, weights.stable_version)]
            if weights.canary_version is not None:
                wanted.append((ref.canary_service, weights.canary_version))
            problems.extend(self._service_problems(namespace, wanted))
            planned.append((ref, namespace, target, route))
        if problems:
            raise TrafficConfigError(problems)
        for ref, namespace, target, route in planned:
            self._point_services(ref, namespace, target, route, weights)
            self._apply(namespace, ref.name, target, self._read(namespace, ref.name))

    def _point_services(
        self,
        ref: HTTPRouteRef,
        namespace: str,
        target: GatewayTarget,
        route: JsonObject,
        weights: SetWeights,
    ) -> None:
        """The stable Service to the stable version (a promotion moves it while the
        canary Service carries the same version); the canary Service to the canary, after
        the HTTPRoute stops sending to it when it selected another version."""
        self._select(namespace, ref.stable_service, weights.stable_version)
        canary = weights.canary_version
        if canary is None:
            return
        service = self._get("services", namespace, ref.canary_service)
        if gateway_services.selected_version(service) == canary:
            return
        if sends_to_canary(route, target):
            drained = GatewayTarget(
                stable_service=target.stable_service,
                canary_service=target.canary_service,
                canary_active=False,
                canary_weight=0,
                owner=target.owner,
            )
            self._apply(namespace, ref.name, drained, route)
        self._select(namespace, ref.canary_service, canary)

    def _select(self, namespace: str, name: str, version: str) -> None:
        def send(operations: list[JsonObject]) -> None:
            patched = self._core.patch_namespaced_service(
                name,
                namespace,
                operations,
                _content_type=JSON_PATCH,
                _request_timeout=REQUEST_TIMEOUT,
            )
            self._caches["services"].remember(as_json(self._api, patched))

        sent = guarded_patch.send_guarded(
            label=f"Service {namespace}/{name}",
            current=self._get("services", namespace, name),
            plan=lambda current: gateway_services.plan_selector(current, version),
            send=send,
            reread=lambda: self._get("services", namespace, name),
            retry=self._retry,
        )
        self.patches_sent += sent

    def _apply(self, namespace: str, name: str, target: GatewayTarget, route: JsonObject) -> None:
        """Send the planned patch; on conflict re-read, re-plan and retry (bounded)."""

        def send(operations: list[JsonObject]) -> None:
            patched = self._objects.patch_namespaced_custom_object(
                GATEWAY_GROUP,
                GATEWAY_VERSION,
                namespace,
                "httproutes",
                name,
                operations,
                _content_type=JSON_PATCH,
                _request_timeout=REQUEST_TIMEOUT,
            )
            self._caches["httproutes"].remember(json_object(patched))

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

    # -- reading weights back ------------------------------------------------------------

    def read_weights(self, rollout: Rollout) -> tuple[RouteWeights, ...]:
        """The live split of every weighted rule, by the subset of the version each
        Service's selector picks (``""`` for a Service that names none)."""
        found: list[RouteWeights] = []
        for ref in rollout.spec.traffic.http_routes:
            namespace = ref.namespace or rollout.namespace
            route = self._read(namespace, ref.name)
            target = self._target(rollout, ref, None, 0, None)
            subset_of = functools.partial(self._subset_of, rollout, namespace)
            annotations = (route.get("metadata") or {}).get("annotations") or {}
            record = annotations.get(_record_key(rollout))
            for index, split in gateway_services.rule_splits(route, target, subset_of):
                found.append(
                    RouteWeights(
                        f"HTTPRoute {namespace}/{ref.name} rule {index}",
                        split,
                        record=record if isinstance(record, str) else None,
                    )
                )
        return tuple(found)

    def _subset_of(self, rollout: Rollout, namespace: str, service_name: str) -> str:
        """The subset of the version the Service selects; ``""`` when it names none."""
        try:
            service = self._get("services", namespace, service_name)
        except NotFound:
            return ""
        version = gateway_services.selected_version(service)
        return rollout.subset_for(version) if version else ""


def _record_key(rollout: Rollout) -> str:
    return route_record.annotation_key(rollout.namespace, rollout.name)
