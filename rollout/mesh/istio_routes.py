"""Pure planning for the Istio router: which routes are ours and the one JSON patch to send.

No I/O: :mod:`rollout.mesh.istio` reads a VirtualService, asks :func:`plan_weights` for the
patch, and sends it. Keeping the planning pure lets the tests state exactly which paths a
weight change may touch.

The rules:

- the managed routes are the named http routes of the reference, or, when it names none,
  every http route with a destination for the rollout's host;
- versions are told apart by ``destination.subset``; destinations to other hosts are left
  alone (and must carry no weight, or stable and canary could not sum to 100);
- the stable destination has the host and the stable subset; when there is none yet, the
  one destination with the host (and not the canary subset) is adopted as stable;
- the canary destination is appended as a copy of the stable one (same host and port) with
  the canary subset, and removed, with any leftover subset of the host, when the rollout
  ends (``canary_version`` None);
- the patch only replaces ``weight`` and ``destination/subset`` of those entries, removes
  or appends entries, and is guarded by ``test`` ops on ``/metadata/resourceVersion`` and on
  every path it replaces or removes.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from rollout import API_GROUP
from rollout.ports import RouteWeights
from rollout.spec.routing import Routing

__all__ = [
    "EXTRA_ROUTE_PREFIX",
    "Target",
    "VirtualServicePlan",
    "destination_of",
    "effective_weights",
    "has_host",
    "managed_routes",
    "plan_weights",
    "record_operations",
    "route_entries",
    "route_problems",
    "route_weights",
    "same_host",
    "set_guarded",
    "weight_sum_problem",
]

JsonObject = dict[str, Any]
Operation = dict[str, Any]

EXTRA_ROUTE_PREFIX = f"{API_GROUP}/"
"""The name prefix of the http routes the router adds itself (header and sticky routes,
:mod:`rollout.mesh.istio_extras`): never taken for a weighted route of the user's."""


@dataclasses.dataclass(frozen=True)
class Target:
    """What the managed routes of one VirtualService should carry."""

    host: str
    namespace: str
    stable_subset: str
    canary_subset: str | None
    canary_weight: int
    record: tuple[str, str] | None = None
    """The record annotation (key, value) to write with the weights; None leaves it."""
    owner: str = ""
    """``namespace.name`` of the rollout: names the routes it adds."""
    routing: Routing | None = None
    """The managed routes beside the weights; None leaves them as they are."""


@dataclasses.dataclass(frozen=True)
class ManagedRoute:
    """One managed http route and where it sits in ``spec.http``."""

    index: int
    route: JsonObject

    @property
    def name(self) -> str | None:
        name = self.route.get("name")
        return str(name) if name else None

    @property
    def label(self) -> str:
        """How problems name the route: ``route 'primary'`` or ``http route #0``."""
        return f"route {self.name!r}" if self.name else f"http route #{self.index}"

    @property
    def short_label(self) -> str:
        return self.name or f"#{self.index}"


@dataclasses.dataclass(frozen=True)
class VirtualServicePlan:
    """The JSON patch for one VirtualService (empty when nothing changes), or problems."""

    operations: list[Operation]
    problems: list[str]


def _host_forms(host: str, namespace: str) -> set[str]:
    host = host.strip().lower().rstrip(".")
    forms = {host}
    parts = host.split(".")
    if len(parts) == 1:
        forms.add(f"{host}.{namespace}.svc.cluster.local")
    elif len(parts) == 2:
        forms.add(f"{host}.svc.cluster.local")
    elif parts[-1] == "svc":
        forms.add(f"{host}.cluster.local")
    return forms


def same_host(first: str, second: str, namespace: str) -> bool:
    """Whether two hosts name the same service; short names resolve in ``namespace``."""
    return bool(_host_forms(first, namespace) & _host_forms(second, namespace))


def destination_of(entry: Any) -> JsonObject:
    destination = entry.get("destination") if isinstance(entry, dict) else None
    return destination if isinstance(destination, dict) else {}


def has_host(entry: Any, host: str, namespace: str) -> bool:
    destination_host = destination_of(entry).get("host")
    return isinstance(destination_host, str) and same_host(destination_host, host, namespace)


def effective_weights(entries: list[Any]) -> list[int]:
    """Istio's reading of the weights: an omitted weight is 100 for a lone destination."""
    if len(entries) == 1 and not isinstance(entries[0].get("weight"), int):
        return [100]
    return [
        int(entry["weight"]) if isinstance(entry.get("weight"), int) else 0 for entry in entries
    ]


def managed_routes(
    spec: JsonObject, route_names: list[str], host: str, namespace: str
) -> tuple[list[ManagedRoute], list[str]]:
    """The managed http routes of a VirtualService spec, and problems finding them."""
    http = spec.get("http")
    routes = [r if isinstance(r, dict) else {} for r in http] if isinstance(http, list) else []
    if route_names:
        by_name = {str(r.get("name")): i for i, r in enumerate(routes) if r.get("name")}
        found: list[ManagedRoute] = []
        problems: list[str] = []
        for name in route_names:
            if name not in by_name:
                known = ", ".join(repr(n) for n in by_name) or "none"
                problems.append(f"has no http route named {name!r} (named routes: {known})")
                continue
            index = by_name[name]
            found.append(ManagedRoute(index, routes[index]))
        return found, problems
    found = [
        ManagedRoute(index, route)
        for index, route in enumerate(routes)
        if any(has_host(entry, host, namespace) for entry in route.get("route") or [])
        and not str(route.get("name") or "").startswith(EXTRA_ROUTE_PREFIX)
    ]
    if not found:
        return [], [f"has no http route with a destination for host {host}"]
    return found, []


def route_entries(route: JsonObject) -> list[JsonObject]:
    entries = route.get("route")
    return [e if isinstance(e, dict) else {} for e in entries] if isinstance(entries, list) else []


def _find_stable(
    entries: list[JsonObject], ours: list[int], target: Target
) -> tuple[int | None, str | None]:
    """The index of the stable destination (None: to be added), or a problem."""
    for index in ours:
        if destination_of(entries[index]).get("subset") == target.stable_subset:
            return index, None
    candidates = [
        index
        for index in ours
        if target.canary_subset is None
        or destination_of(entries[index]).get("subset") != target.canary_subset
    ]
    if len(candidates) == 1:
        return candidates[0], None
    if not candidates:
        return None, None
    subsets = ", ".join(repr(destination_of(entries[i]).get("subset")) for i in candidates)
    return None, (
        f"cannot tell the stable destination: no subset {target.stable_subset!r} "
        f"and several destinations for {target.host} (subsets {subsets})"
    )


def route_problems(route: JsonObject, label: str, target: Target) -> list[str]:
    """What keeps one managed route from carrying ``target``."""
    entries = route_entries(route)
    ours = [i for i, entry in enumerate(entries) if has_host(entry, target.host, target.namespace)]
    if not ours:
        return [f"{label} has no destination for host {target.host}"]
    problems: list[str] = []
    _, ambiguous = _find_stable(entries, ours, target)
    if ambiguous:
        problems.append(f"{label}: {ambiguous}")
    weights = effective_weights(entries)
    elsewhere = sum(w for i, w in enumerate(weights) if i not in ours)
    if elsewhere:
        problems.append(
            f"{label} sends {elsewhere}% to other hosts; stable and canary of "
            f"{target.host} must carry all of it"
        )
    return problems


def weight_sum_problem(route: JsonObject, label: str) -> str | None:
    """A managed route whose weights do not sum to 100 (Istio would reject or misroute)."""
    entries = route_entries(route)
    if not entries:
        return None
    total = sum(effective_weights(entries))
    return None if total == 100 else f"{label} weights sum to {total}, not 100"


def set_guarded(
    ops: list[Operation], path: str, container: JsonObject, key: str, value: Any
) -> None:
    """Replace ``container[key]`` with ``value`` (testing the old value), or add it."""
    if key in container:
        if container[key] == value:
            return
        ops.append({"op": "test", "path": f"{path}/{key}", "value": container[key]})
        ops.append({"op": "replace", "path": f"{path}/{key}", "value": value})
    else:
        ops.append({"op": "add", "path": f"{path}/{key}", "value": value})


def _plan_route(route_path: str, managed: ManagedRoute, target: Target) -> list[Operation]:
    entries = route_entries(managed.route)
    ours = [i for i, entry in enumerate(entries) if has_host(entry, target.host, target.namespace)]
    stable_index, _ = _find_stable(entries, ours, target)
    canary_index = None
    if target.canary_subset is not None:
        canary_index = next(
            (
                i
                for i in ours
                if i != stable_index
                and destination_of(entries[i]).get("subset") == target.canary_subset
            ),
            None,
        )
    stable_weight = 100 - target.canary_weight
    ops: list[Operation] = []
    updates: list[tuple[int, str, int]] = []
    if stable_index is not None:
        updates.append((stable_index, target.stable_subset, stable_weight))
    if canary_index is not None and target.canary_subset is not None:
        updates.append((canary_index, target.canary_subset, target.canary_weight))
    for index, subset, weight in updates:
        entry = entries[index]
        entry_path = f"{route_path}/route/{index}"
        destination = destination_of(entry)
        if destination.get("subset") != subset:
            ops.append({"op": "test", "path": f"{entry_path}/destination", "value": destination})
            set_guarded(ops, f"{entry_path}/destination", destination, "subset", subset)
        current_weight = effective_weights(entries)[index]
        if current_weight != weight or "weight" not in entry:
            set_guarded(ops, entry_path, entry, "weight", weight)
    kept = {i for i, _, _ in updates}
    for index in sorted((i for i in ours if i not in kept), reverse=True):
        entry_path = f"{route_path}/route/{index}"
        ops.append({"op": "test", "path": entry_path, "value": entries[index]})
        ops.append({"op": "remove", "path": entry_path})
    template = entries[stable_index if stable_index is not None else ours[0]]
    if stable_index is None:
        ops.append(_append(route_path, template, target.stable_subset, stable_weight))
    if target.canary_subset is not None and canary_index is None:
        ops.append(_append(route_path, template, target.canary_subset, target.canary_weight))
    return ops


def _append(route_path: str, template: JsonObject, subset: str, weight: int) -> Operation:
    destination = copy.deepcopy(destination_of(template))
    destination["subset"] = subset
    return {
        "op": "add",
        "path": f"{route_path}/route/-",
        "value": {"destination": destination, "weight": weight},
    }


def plan_weights(
    virtual_service: JsonObject, route_names: list[str], target: Target
) -> VirtualServicePlan:
    """The guarded JSON patch that makes every managed route carry ``target``."""
    spec = virtual_service.get("spec") or {}
    routes, problems = managed_routes(spec, route_names, target.host, target.namespace)
    for managed in routes:
        problems.extend(route_problems(managed.route, managed.label, target))
    if problems:
        return VirtualServicePlan([], problems)
    changes: list[Operation] = []
    for managed in routes:
        route_path = f"/spec/http/{managed.index}"
        route_ops = _plan_route(route_path, managed, target)
        if route_ops and managed.name:
            changes.append({"op": "test", "path": f"{route_path}/name", "value": managed.name})
        changes.extend(route_ops)
    changes.extend(record_operations(virtual_service, target.record))
    if not changes:
        return VirtualServicePlan([], [])
    version = (virtual_service.get("metadata") or {}).get("resourceVersion")
    guard = {"op": "test", "path": "/metadata/resourceVersion", "value": version}
    return VirtualServicePlan([guard, *changes], [])


def record_operations(
    virtual_service: JsonObject, record: tuple[str, str] | None
) -> list[Operation]:
    """Set the record annotation (testing the old value) when it differs; any route
    object's (the Gateway API router writes it on HTTPRoutes too)."""
    if record is None:
        return []
    key, value = record
    metadata = virtual_service.get("metadata") or {}
    annotations = metadata.get("annotations")
    if not isinstance(annotations, dict):
        return [{"op": "add", "path": "/metadata/annotations", "value": {key: value}}]
    path = f"/metadata/annotations/{_pointer_token(key)}"
    current = annotations.get(key)
    if current == value:
        return []
    if current is None:
        return [{"op": "add", "path": path, "value": value}]
    return [
        {"op": "test", "path": path, "value": current},
        {"op": "replace", "path": path, "value": value},
    ]


def _pointer_token(key: str) -> str:
    """A JSON pointer token for an annotation key (``/`` is ``~1``, RFC 6901)."""
    return key.replace("~", "~0").replace("/", "~1")


def route_weights(
    virtual_service: JsonObject,
    route_names: list[str],
    *,
    host: str,
    record_key: str | None = None,
) -> list[RouteWeights]:
    """The live weights of each managed route, by subset of the host, each with the
    record annotation named ``record_key`` on the VirtualService."""
    metadata = virtual_service.get("metadata") or {}
    annotations = metadata.get("annotations")
    record = annotations.get(record_key) if isinstance(annotations, dict) and record_key else None
    namespace = str(metadata.get("namespace") or "default")
    label = f"VirtualService {namespace}/{metadata.get('name')}"
    routes, _ = managed_routes(virtual_service.get("spec") or {}, route_names, host, namespace)
    found: list[RouteWeights] = []
    for managed in routes:
        entries = route_entries(managed.route)
        weights = effective_weights(entries)
        by_subset: dict[str, int] = {}
        for index, entry in enumerate(entries):
            if has_host(entry, host, namespace):
                subset = str(destination_of(entry).get("subset") or "")
                by_subset[subset] = by_subset.get(subset, 0) + weights[index]
        found.append(
            RouteWeights(
                route=f"{label} route {managed.short_label}",
                weights=by_subset,
                record=record if isinstance(record, str) else None,
            )
        )
    return found
