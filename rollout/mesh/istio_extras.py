"""Pure planning of the routes the Istio router manages beside the weights.

A rollout's :class:`rollout.spec.routing.Routing` (a header route, a mirror, sticky
sessions) becomes, in each VirtualService it manages:

- header route: an http route named ``canary.rollout.dev/<namespace>.<name>/header``,
  placed right before the first weighted route, matching the weighted route's own
  matches AND the step's headers (or cookie), and sending all of that to the canary;
- sticky sessions: on each weighted route, the stable and canary destinations set a
  cookie naming their subset (``headers.response.add.Set-Cookie``), and two routes
  (``.../sticky-canary`` and ``.../sticky-stable``) ahead of the weighted one send a
  request carrying that cookie back to the version that set it;
- mirror: ``mirror`` (the host, the canary subset) and ``mirrorPercentage`` on each
  weighted route.

Everything is recognised as ours by its name (the routes), its host (a mirror of the
rollout's own host) or its exact shape (a ``Set-Cookie`` of ``<cookie>=<the entry's own
subset>``), so it is removed when no longer asked for, and when the rollout ends (no
canary), and nothing of the user's is ever touched: a mirror or destination headers the
user set on a weighted route are reported as a problem instead of overwritten. Each
change is guarded by a ``test`` op on the old value, after the weights' own operations in
the same patch (planned on the object as those leave it). No I/O.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import jsonpatch

from rollout.mesh import istio_routes
from rollout.mesh.istio_routes import Target, VirtualServicePlan
from rollout.spec.base import seconds
from rollout.spec.routing import Routing, SessionAffinity, StringMatch

__all__ = ["extra_route_names", "plan_routes", "set_cookie"]

JsonObject = dict[str, Any]
Operation = dict[str, Any]

_COOKIE_SHAPE = re.compile(r"^([^=;\s]+)=([^;\s]+); Max-Age=\d+; Path=/$")


def extra_route_names(owner: str) -> tuple[str, str, str]:
    """The header, sticky-canary and sticky-stable route names of one rollout."""
    base = f"{istio_routes.EXTRA_ROUTE_PREFIX}{owner}"
    return f"{base}/header", f"{base}/sticky-canary", f"{base}/sticky-stable"


def set_cookie(affinity: SessionAffinity, subset: str) -> str:
    """The ``Set-Cookie`` value a destination answers with under sticky sessions."""
    max_age = int(seconds(affinity.max_age))
    return f"{affinity.cookie_name}={subset}; Max-Age={max_age}; Path=/"


def _cookie_headers(affinity: SessionAffinity, subset: str) -> JsonObject:
    return {"response": {"add": {"Set-Cookie": set_cookie(affinity, subset)}}}


def _ours_headers(headers: Any, subset: str) -> bool:
    """Destination headers we set: exactly one ``Set-Cookie`` naming the entry's subset."""
    if not isinstance(headers, dict) or set(headers) != {"response"}:
        return False
    response = headers["response"]
    if not isinstance(response, dict) or set(response) != {"add"}:
        return False
    added = response["add"]
    if not isinstance(added, dict) or set(added) != {"Set-Cookie"}:
        return False
    shape = _COOKIE_SHAPE.match(str(added["Set-Cookie"]))
    return shape is not None and shape.group(2) == subset


def _plan_entry_headers(
    entry_path: str, entry: JsonObject, wanted: JsonObject | None, label: str
) -> tuple[list[Operation], list[str]]:
    subset = str(istio_routes.destination_of(entry).get("subset") or "")
    current = entry.get("headers")
    if current == wanted:
        return [], []
    if current is not None and not _ours_headers(current, subset):
        if wanted is None:
            return [], []
        return [], [
            f"{label}: the destination {subset!r} has headers of its own; "
            "sticky sessions would replace them"
        ]
    ops: list[Operation] = []
    if current is not None:
        ops.append({"op": "test", "path": f"{entry_path}/headers", "value": current})
        ops.append({"op": "remove", "path": f"{entry_path}/headers"})
    if wanted is not None:
        ops.append({"op": "add", "path": f"{entry_path}/headers", "value": wanted})
    return ops, []


def _plan_mirror(
    route_path: str, managed: istio_routes.ManagedRoute, target: Target, template: JsonObject
) -> tuple[list[Operation], list[str]]:
    route = managed.route
    percent = target.routing.mirror_percent if target.routing else 0.0
    wanted: JsonObject | None = None
    if percent and target.canary_subset is not None:
        wanted = copy.deepcopy(template)
        wanted["subset"] = target.canary_subset
    current = route.get("mirror")
    ours = isinstance(current, dict) and istio_routes.has_host(
        {"destination": current}, target.host, target.namespace
    )
    if current is not None and not ours:
        if wanted is None:
            return [], []
        host = current.get("host") if isinstance(current, dict) else current
        return [], [f"{managed.label} already mirrors to {host!r}; setMirror would replace it"]
    if current is None and wanted is None:
        return [], []
    wanted_percentage = {"value": float(percent)} if wanted is not None else None
    ops: list[Operation] = []
    for key, old, value in (
        ("mirror", current, wanted),
        ("mirrorPercentage", route.get("mirrorPercentage"), wanted_percentage),
    ):
        if old == value:
            continue
        path = f"{route_path}/{key}"
        if old is not None:
            ops.append({"op": "test", "path": path, "value": old})
            ops.append({"op": "remove", "path": path})
        if value is not None:
            ops.append({"op": "add", "path": path, "value": value})
    return ops, []


def _match_route(
    name: str, matches: list[JsonObject], extra: dict[str, StringMatch], destination: JsonObject
) -> JsonObject:
    """A route sending the weighted route's matches, narrowed by ``extra``, to one place."""
    conditions = {key: match.as_istio() for key, match in extra.items()}
    combined = []
    for match in matches or [{}]:
        narrowed = copy.deepcopy(match)
        narrowed.pop("name", None)
        narrowed["headers"] = {**(narrowed.get("headers") or {}), **conditions}
        combined.append(narrowed)
    return {"name": name, "match": combined, "route": [{"destination": destination}]}


def _wanted_routes(first: JsonObject, target: Target, template: JsonObject) -> list[JsonObject]:
    routing = target.routing or Routing()
    if target.canary_subset is None:
        return []
    header_name, sticky_canary, sticky_stable = extra_route_names(target.owner)
    matches = [m for m in first.get("match") or [] if isinstance(m, dict)]
    wanted: list[JsonObject] = []

    def destination(subset: str) -> JsonObject:
        found = copy.deepcopy(template)
        found["subset"] = subset
        return found

    if routing.header_route is not None:
        wanted.append(
            _match_route(
                header_name,
                matches,
                routing.header_route.matches(),
                destination(target.canary_subset),
            )
        )
    if routing.affinity is not None:
        for name, subset in (
            (sticky_canary, target.canary_subset),
            (sticky_stable, target.stable_subset),
        ):
            cookie = StringMatch(
                regex=f"^(.*;\\s*)?{re.escape(routing.affinity.cookie_name)}="
                f"{re.escape(subset)}(;.*)?$"
            )
            wanted.append(_match_route(name, matches, {"cookie": cookie}, destination(subset)))
    return wanted


def _plan_extra_routes(
    http: list[JsonObject], first_index: int, wanted: list[JsonObject], owner: str
) -> list[Operation]:
    """Remove our routes that are not as wanted, then insert the wanted ones before the
    first weighted route."""
    prefix = f"{istio_routes.EXTRA_ROUTE_PREFIX}{owner}/"
    ours = [i for i, route in enumerate(http) if str(route.get("name") or "").startswith(prefix)]
    if [http[i] for i in ours] == wanted and all(
        i == first_index - len(ours) + k for k, i in enumerate(ours)
    ):
        return []
    ops: list[Operation] = []
    for index in sorted(ours, reverse=True):
        ops.append({"op": "test", "path": f"/spec/http/{index}", "value": http[index]})
        ops.append({"op": "remove", "path": f"/spec/http/{index}"})
    position = first_index - sum(1 for i in ours if i < first_index)
    for offset, route in enumerate(wanted):
        ops.append({"op": "add", "path": f"/spec/http/{position + offset}", "value": route})
    return ops


def _plan_extras(
    virtual_service: JsonObject, route_names: list[str], target: Target
) -> tuple[list[Operation], list[str]]:
    spec = virtual_service.get("spec") or {}
    routes, problems = istio_routes.managed_routes(spec, route_names, target.host, target.namespace)
    if problems or not routes:
        return [], problems
    routing = target.routing or Routing()
    affinity = routing.affinity if target.canary_subset is not None else None
    ops: list[Operation] = []
    for managed in routes:
        route_path = f"/spec/http/{managed.index}"
        entries = istio_routes.route_entries(managed.route)
        template = _template(entries, target)
        mirror_ops, found = _plan_mirror(route_path, managed, target, template)
        ops.extend(mirror_ops)
        problems.extend(found)
        for index, entry in enumerate(entries):
            if not istio_routes.has_host(entry, target.host, target.namespace):
                continue
            subset = str(istio_routes.destination_of(entry).get("subset") or "")
            wanted = _cookie_headers(affinity, subset) if affinity is not None else None
            entry_ops, found = _plan_entry_headers(
                f"{route_path}/route/{index}", entry, wanted, managed.label
            )
            ops.extend(entry_ops)
            problems.extend(found)
    first = min(routes, key=lambda managed: managed.index)
    template = _template(istio_routes.route_entries(first.route), target)
    http = [r if isinstance(r, dict) else {} for r in spec.get("http") or []]
    wanted_routes = _wanted_routes(first.route, target, template)
    ops.extend(_plan_extra_routes(http, first.index, wanted_routes, target.owner))
    return ops, problems


def _template(entries: list[JsonObject], target: Target) -> JsonObject:
    """The stable destination's host and port: what every added destination copies."""
    for entry in entries:
        destination = istio_routes.destination_of(entry)
        if istio_routes.has_host(entry, target.host, target.namespace) and (
            destination.get("subset") == target.stable_subset
        ):
            return {k: copy.deepcopy(v) for k, v in destination.items() if k != "subset"}
    return {"host": target.host}


def plan_routes(
    virtual_service: JsonObject, route_names: list[str], target: Target
) -> VirtualServicePlan:
    """The one guarded JSON patch for the weights and the managed routes beside them."""
    weights = istio_routes.plan_weights(virtual_service, route_names, target)
    if weights.problems or (target.routing is None and target.canary_subset is not None):
        return weights
    weight_ops = weights.operations[1:]
    patched = jsonpatch.apply_patch(virtual_service, weights.operations) if weight_ops else None
    extra_ops, problems = _plan_extras(patched or virtual_service, route_names, target)
    if problems:
        return VirtualServicePlan([], problems)
    if not extra_ops:
        return weights
    version = (virtual_service.get("metadata") or {}).get("resourceVersion")
    guard = {"op": "test", "path": "/metadata/resourceVersion", "value": version}
    return VirtualServicePlan([guard, *weight_ops, *extra_ops], [])
