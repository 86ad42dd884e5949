"""The Istio traffic router: weights in VirtualService http routes, subsets in a DestinationRule.

Each weight change is ONE JSON patch per VirtualService that touches only the ``weight``
and ``destination/subset`` of the managed route entries (and appends or removes the canary
entry), guarded by ``test`` ops on ``/metadata/resourceVersion`` and on every path it
changes. So a watcher never sees a half-written route, a concurrent edit of anything else
(matches, retries, labels, another route) is never lost, and Argo CD sees only weight
changes (see :mod:`rollout.mesh.istio_routes` for the planning rules). The same patch
writes the rollout's record annotation (:mod:`rollout.route_record`) when it changes, so
the record outlives the Rollout and always matches the weights beside it.

A conflict (the object moved between read and patch: 422 from the ``test`` op, or 409)
is answered by re-reading and planning again, a bounded number of times with jittered
backoff. Several VirtualServices (mesh and gateway) are all checked before the first is
patched, so a broken one leaves the others untouched. Weights already in place send
nothing. The cluster's Istio API version is found on first use: ``v1``, else ``v1beta1``.

While the controller leads, VirtualServices and DestinationRules are read from list+watch
caches (``start_caches``), never from the server: a patch's answer goes into the cache at
once, so the drift check right after a weight change never sees the older copy, and after
a conflict the re-read waits for the watch to bring the other writer's version.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable
from typing import Any

from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

from rollout import route_record
from rollout.effects import SetWeights
from rollout.errors import ClusterError, NotFound, TrafficConfigError
from rollout.kubeapi import errors, json_call
from rollout.kubeapi.client import REQUEST_TIMEOUT, json_object
from rollout.kubeapi.object_cache import ObjectCache
from rollout.mesh import guarded_patch, istio_extras, istio_routes
from rollout.ports import RouteWeights
from rollout.spec.rollout import Rollout
from rollout.spec.routing import Routing
from rollout.spec.traffic import VirtualServiceRef

__all__ = ["ISTIO_GROUP", "IstioRouter"]

ISTIO_GROUP = "networking.istio.io"
ISTIO_VERSIONS = ("v1", "v1beta1")
CACHED_KINDS = ("virtualservices", "destinationrules")
JSON_PATCH = "application/json-patch+json"

JsonObject = dict[str, Any]


class IstioRouter:
    """:class:`rollout.ports.Router`: moves a rollout's traffic by patching its Istio
    VirtualServices."""

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
        self._version: str | None = None
        self._caches = {plural: ObjectCache(plural) for plural in CACHED_KINDS}
        self.patches_sent = 0

    # -- reading -------------------------------------------------------------------------

    @property
    def api_version(self) -> str | None:
        """The Istio API version in use (``v1`` or ``v1beta1``), once found."""
        return self._version

    def start_caches(self) -> None:
        """Keep every VirtualService and DestinationRule in memory until ``stop_caches``."""
        if self._version is None:
            self._version = self._served_version()
        for plural, cache in self._caches.items():
            list_call = functools.partial(
                self._objects.list_cluster_custom_object, ISTIO_GROUP, self._version, plural
            )
            cache.start(list_call)

    def stop_caches(self) -> None:
        for cache in self._caches.values():
            cache.stop()

    def _served_version(self) -> str:
        for version in ISTIO_VERSIONS:
            try:
                with errors.translated("finding the Istio API version"):
                    self._objects.list_cluster_custom_object(
                        ISTIO_GROUP, version, "destinationrules", limit=1
                    )
            except NotFound:
                continue
            return version
        raise ClusterError(f"the cluster serves no Istio API {ISTIO_GROUP}")

    def _get(self, kind: str, plural: str, namespace: str, name: str) -> JsonObject:
        known, cached = self._caches[plural].lookup(namespace, name)
        if known:
            if cached is None:
                raise NotFound(f"{kind} {namespace}/{name} not found")
            return cached
        action = f"reading {kind} {namespace}/{name}"
        versions = (self._version,) if self._version else ISTIO_VERSIONS
        for version in versions:
            try:
                with errors.translated(action):
                    try:
                        found = json_object(
                            self._objects.get_namespaced_custom_object(
                                ISTIO_GROUP,
                                version,
                                namespace,
                                plural,
                                name,
                                _request_timeout=REQUEST_TIMEOUT,
                            )
                        )
                    except ApiException as error:
                        if self._version is None and errors.is_unserved_api(error):
                            continue
                        raise
            except NotFound as error:
                raise NotFound(f"{kind} {namespace}/{name} not found") from error
            self._version = version
            return found
        raise ClusterError(
            f"{action}: the cluster serves no Istio API {ISTIO_GROUP} "
            f"(tried {', '.join(ISTIO_VERSIONS)})"
        )

    def _virtual_service(self, rollout: Rollout, ref: VirtualServiceRef) -> JsonObject:
        return self._get(
            "VirtualService", "virtualservices", ref.namespace or rollout.namespace, ref.name
        )

    # -- checking ------------------------------------------------------------------------

    def check(self, rollout: Rollout, stable: str, canary: str | None) -> list[str]:
        """Problems with the VirtualServices and the DestinationRule, each naming its object."""
        if not rollout.spec.traffic.virtual_services:
            return []
        target_canary = canary if canary != stable else None
        problems: list[str] = []
        for ref in rollout.spec.traffic.virtual_services:
            namespace = ref.namespace or rollout.namespace
            label = f"VirtualService {namespace}/{ref.name}"
            try:
                virtual_service = self._virtual_service(rollout, ref)
            except ClusterError as error:
                problems.append(str(error))
                continue
            target = self._target(rollout, ref, stable, target_canary, 0)
            spec = virtual_service.get("spec") or {}
            routes, found = istio_routes.managed_routes(
                spec, ref.routes, target.host, target.namespace
            )
            problems.extend(f"{label} {problem}" for problem in found)
            for managed in routes:
                route_found = istio_routes.route_problems(managed.route, managed.label, target)
                problems.extend(f"{label} {problem}" for problem in route_found)
                if not route_found:
                    total = istio_routes.weight_sum_problem(managed.route, managed.label)
                    problems.extend([f"{label} {total}"] if total else [])
        problems.extend(self._subset_problems(rollout, [stable, canary]))
        return problems

    def _subset_problems(self, rollout: Rollout, versions: list[str | None]) -> list[str]:
        namespace, name = rollout.namespace, rollout.spec.traffic.destination_rule
        if name is None:
            return []
        label = f"DestinationRule {namespace}/{name}"
        try:
            rule = self._get("DestinationRule", "destinationrules", namespace, name)
        except ClusterError as error:
            return [str(error)]
        spec = rule.get("spec") or {}
        problems: list[str] = []
        rule_host = spec.get("host")
        host = rollout.spec.traffic.host
        if not isinstance(rule_host, str) or not istio_routes.same_host(rule_host, host, namespace):
            problems.append(f"{label} is for host {rule_host!r}, not {host}")
        subsets = {
            str(subset.get("name"))
            for subset in spec.get("subsets") or []
            if isinstance(subset, dict) and subset.get("name")
        }
        for version in dict.fromkeys(v for v in versions if v is not None):
            subset = rollout.subset_for(version)
            if subset not in subsets:
                problems.append(f"{label} has no subset {subset!r} for version {version}")
        return problems

    def _target(
        self,
        rollout: Rollout,
        ref: VirtualServiceRef,
        stable: str,
        canary: str | None,
        weight: int,
        record: str | None = None,
        routing: Routing | None = None,
    ) -> istio_routes.Target:
        return istio_routes.Target(
            host=rollout.spec.traffic.host,
            namespace=ref.namespace or rollout.namespace,
            stable_subset=rollout.subset_for(stable),
            canary_subset=rollout.subset_for(canary) if canary is not None else None,
            canary_weight=weight,
            record=(_record_key(rollout), record) if record is not None else None,
            owner=f"{rollout.namespace}.{rollout.name}",
            routing=routing,
        )

    # -- writing -------------------------------------------------------------------------

    def set_weights(self, rollout: Rollout, weights: SetWeights) -> None:
        """Make every managed route carry ``weights``; check all objects before any write."""
        planned: list[tuple[VirtualServiceRef, istio_routes.Target, JsonObject]] = []
        problems: list[str] = []
        for ref in rollout.spec.traffic.virtual_services:
            target = self._target(
                rollout,
                ref,
                weights.stable_version,
                weights.canary_version,
                weights.canary_weight,
                weights.record,
                weights.routing,
            )
            try:
                virtual_service = self._virtual_service(rollout, ref)
            except NotFound as error:
                problems.append(str(error))
                continue
            plan = istio_extras.plan_routes(virtual_service, ref.routes, target)
            label = f"VirtualService {target.namespace}/{ref.name}"
            problems.extend(f"{label} {problem}" for problem in plan.problems)
            planned.append((ref, target, virtual_service))
        if weights.canary_version is not None and planned:
            problems.extend(
                self._subset_problems(rollout, [weights.stable_version, weights.canary_version])
            )
        if problems:
            raise TrafficConfigError(problems)
        for ref, target, virtual_service in planned:
            self._apply(ref, target, virtual_service)

    def _apply(
        self, ref: VirtualServiceRef, target: istio_routes.Target, virtual_service: JsonObject
    ) -> None:
        """Send the planned patch; on conflict re-read, re-plan and retry (bounded)."""
        namespace, name = target.namespace, ref.name

        def send(operations: list[JsonObject]) -> None:
            path = {
                "group": ISTIO_GROUP,
                "version": self._version or ISTIO_VERSIONS[0],
                "namespace": namespace,
                "plural": "virtualservices",
                "name": name,
            }
            patched = json_call.send(
                self._objects.api_client,
                "PATCH",
                json_call.CUSTOM_OBJECT,
                path,
                operations,
                content_type=JSON_PATCH,
            )
            self._caches["virtualservices"].remember(patched)

        sent = guarded_patch.send_guarded(
            label=f"VirtualService {namespace}/{name}",
            current=virtual_service,
            plan=lambda current: istio_extras.plan_routes(current, ref.routes, target),
            send=send,
            reread=lambda: self._get("VirtualService", "virtualservices", namespace, name),
            retry=self._retry,
        )
        self.patches_sent += sent

    @property
    def conflicts_seen(self) -> int:
        """Conflicts answered by re-reading and planning again, since the start."""
        return self._retry.conflicts_seen

    # -- reading weights back ------------------------------------------------------------

    def read_weights(self, rollout: Rollout) -> tuple[RouteWeights, ...]:
        """The live split of every managed route, subset by subset."""
        found: list[RouteWeights] = []
        for ref in rollout.spec.traffic.virtual_services:
            found.extend(
                istio_routes.route_weights(
                    self._virtual_service(rollout, ref),
                    ref.routes,
                    host=rollout.spec.traffic.host,
                    record_key=_record_key(rollout),
                )
            )
        return tuple(found)


def _record_key(rollout: Rollout) -> str:
    return route_record.annotation_key(rollout.namespace, rollout.name)
