"""Pure planning of the Gateway API ``HTTPRoute`` (``gateway.networking.k8s.io/v1``) patches.

The second traffic router works on HTTPRoutes as the Istio one works on VirtualServices
(:mod:`rollout.mesh.istio_routes`, :mod:`rollout.mesh.istio_extras`), with Services
instead of subsets: the stable and the canary versions are two Services, and

- weights: every rule of the user's that sends to the stable Service (its *weighted*
  rules) carries ``weight: 100 - w`` on the stable ``backendRef`` and ``weight: w`` on a
  canary ``backendRef`` (a copy of the stable one, the Service name changed), added while a
  canary exists and removed when the rollout ends;
- ``setHeaderRoute``: one rule named ``canary-header.<namespace>.<name>``, placed right
  before the first weighted rule, matching that rule's own matches AND the step's headers
  (a prefix as an anchored regex, a cookie as a regex on the ``cookie`` header), sending
  all of it to the canary. Gateway API ranks matches by specificity, not order (a match
  with more header conditions wins a tie on path and method), so the extra headers are
  what put it ahead of the weighted rule;
- ``setMirror``: a ``RequestMirror`` filter to the canary Service on each weighted rule,
  with ``percent`` (or ``fraction`` for a non-integer percentage).

Sticky sessions are not planned here (Gateway API's ``sessionPersistence`` is still
experimental): asking for them is reported as a problem and nothing is written.

What is ours is known by its name (the header rule) or by naming the canary Service (its
backendRef, its mirror filter), so it is removed when no longer asked for, and the user's
other rules, matches and filters are never touched. Every replace and remove is guarded
by a ``test`` op on the old value, and the patch starts with a ``test`` on
``/metadata/resourceVersion``; the header rule's op comes after every other op on a rule,
so the rule indices those use are those of the object as read. The rollout's record
annotation (:mod:`rollout.route_record`) is written in the same patch, as on a
VirtualService. No I/O.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from typing import Any

from rollout.mesh.istio_routes import record_operations, set_guarded
from rollout.spec.routing import Routing, StringMatch

__all__ = [
    "GatewayTarget",
    "HTTPRoutePlan",
    "header_rule_name",
    "is_service_ref",
    "plan_http_route",
    "sends_to_canary",
    "weighted_rules",
]

JsonObject = dict[str, Any]
Operation = dict[str, Any]

_CORE_KINDS = {None, "Service"}
_CORE_GROUPS = {None, ""}


@dataclasses.dataclass(frozen=True)
class GatewayTarget:
    """What the weighted rules of one HTTPRoute should carry."""

    stable_service: str
    canary_service: str
    canary_active: bool
    """Whether a canary exists; False removes everything the router added."""
    canary_weight: int
    owner: str
    """``namespace.name`` of the rollout: names the header rule."""
    routing: Routing | None = None
    record: tuple[str, str] | None = None
    """The rollout's record annotation (key, value) to write with the weights
    (:mod:`rollout.route_record`); None leaves it."""


@dataclasses.dataclass(frozen=True)
class HTTPRoutePlan:
    """The JSON patch to send (empty: nothing to change) or the problems in the way."""

    operations: list[Operation]
    problems: list[str]


def header_rule_name(owner: str) -> str:
    """The name of the header rule of the rollout ``owner`` (``namespace.name``)."""
    return f"canary-header.{owner}"


def is_service_ref(ref: Any, name: str) -> bool:
    return (
        isinstance(ref, dict)
        and ref.get("name") == name
        and ref.get("kind") in _CORE_KINDS
        and ref.get("group") in _CORE_GROUPS
    )


def _index_of(refs: list[Any], name: str) -> int | None:
    return next((i for i, ref in enumerate(refs) if is_service_ref(ref, name)), None)


def weighted_rules(rules: list[Any], target: GatewayTarget) -> list[int]:
    """Indices of the user's rules that send to the stable Service."""
    ours = header_rule_name(target.owner)
    return [
        index
        for index, rule in enumerate(rules)
        if isinstance(rule, dict)
        and rule.get("name") != ours
        and _index_of(rule.get("backendRefs") or [], target.stable_service) is not None
    ]


def _canary_ref(stable_ref: JsonObject, target: GatewayTarget, weight: int | None) -> JsonObject:
    ref = copy.deepcopy(stable_ref)
    ref["name"] = target.canary_service
    ref.pop("filters", None)
    if weight is None:
        ref.pop("weight", None)
    else:
        ref["weight"] = weight
    return ref


def _mirror_filter(stable_ref: JsonObject, target: GatewayTarget, percent: float) -> JsonObject:
    backend: JsonObject = {"name": target.canary_service}
    if "port" in stable_ref:
        backend["port"] = stable_ref["port"]
    mirror: JsonObject = {"backendRef": backend}
    if float(percent).is_integer():
        mirror["percent"] = int(percent)
    else:
        mirror["fraction"] = {"numerator": round(percent * 100), "denominator": 10000}
    return {"type": "RequestMirror", "requestMirror": mirror}


def _is_our_mirror(entry: Any, target: GatewayTarget) -> bool:
    return (
        isinstance(entry, dict)
        and entry.get("type") == "RequestMirror"
        and is_service_ref(
            (entry.get("requestMirror") or {}).get("backendRef"), target.canary_service
        )
    )


def _plan_weighted(path: str, rule: JsonObject, target: GatewayTarget) -> list[Operation]:
    ops: list[Operation] = []
    refs: list[Any] = rule.get("backendRefs") or []
    stable_index = _index_of(refs, target.stable_service)
    assert stable_index is not None
    stable_ref: JsonObject = refs[stable_index]
    canary_index = _index_of(refs, target.canary_service)
    refs_path = f"{path}/backendRefs"
    weight = target.canary_weight if target.canary_active else 0
    set_guarded(ops, f"{refs_path}/{stable_index}", stable_ref, "weight", 100 - weight)
    if target.canary_active:
        if canary_index is None:
            ops.append(
                {
                    "op": "add",
                    "path": f"{refs_path}/-",
                    "value": _canary_ref(stable_ref, target, weight),
                }
            )
        else:
            set_guarded(ops, f"{refs_path}/{canary_index}", refs[canary_index], "weight", weight)
    elif canary_index is not None:
        at = f"{refs_path}/{canary_index}"
        ops += [
            {"op": "test", "path": at, "value": refs[canary_index]},
            {"op": "remove", "path": at},
        ]
    routing = target.routing
    if routing is None and target.canary_active:
        return ops
    percent = routing.mirror_percent if routing is not None and target.canary_active else 0.0
    wanted = _mirror_filter(stable_ref, target, percent) if percent else None
    filters: list[Any] = rule.get("filters") or []
    mine = next((i for i, entry in enumerate(filters) if _is_our_mirror(entry, target)), None)
    if mine is not None and wanted is None and len(filters) == 1:
        ops.append({"op": "test", "path": f"{path}/filters", "value": filters})
        ops.append({"op": "remove", "path": f"{path}/filters"})
    elif mine is not None:
        at = f"{path}/filters/{mine}"
        if filters[mine] != wanted:
            ops.append({"op": "test", "path": at, "value": filters[mine]})
            ops.append(
                {"op": "remove", "path": at}
                if wanted is None
                else {"op": "replace", "path": at, "value": wanted}
            )
    elif wanted is not None:
        if "filters" in rule:
            ops.append({"op": "add", "path": f"{path}/filters/-", "value": wanted})
        else:
            ops.append({"op": "add", "path": f"{path}/filters", "value": [wanted]})
    return ops


def _header_match(name: str, match: StringMatch) -> JsonObject:
    if match.exact is not None:
        return {"type": "Exact", "name": name, "value": match.exact}
    if match.prefix is not None:
        return {"type": "RegularExpression", "name": name, "value": f"^{re.escape(match.prefix)}.*"}
    return {"type": "RegularExpression", "name": name, "value": match.regex}


def _header_rule(first: JsonObject, target: GatewayTarget) -> JsonObject | None:
    routing = target.routing
    if not target.canary_active or routing is None or routing.header_route is None:
        return None
    conditions = [
        _header_match(name, match) for name, match in routing.header_route.matches().items()
    ]
    matches = []
    for match in first.get("matches") or [{}]:
        combined = copy.deepcopy(match)
        combined["headers"] = [*(combined.get("headers") or []), *conditions]
        matches.append(combined)
    refs: list[Any] = first.get("backendRefs") or []
    stable_index = _index_of(refs, target.stable_service)
    assert stable_index is not None
    return {
        "name": header_rule_name(target.owner),
        "matches": matches,
        "backendRefs": [_canary_ref(refs[stable_index], target, None)],
    }


def sends_to_canary(route: JsonObject, target: GatewayTarget) -> bool:
    """Whether any rule of ``route`` sends to, or mirrors onto, the canary Service."""
    for rule in (route.get("spec") or {}).get("rules") or []:
        if not isinstance(rule, dict):
            continue
        if _index_of(rule.get("backendRefs") or [], target.canary_service) is not None:
            return True
        if any(_is_our_mirror(entry, target) for entry in rule.get("filters") or []):
            return True
    return False


def _other_backends(rule: JsonObject, target: GatewayTarget) -> list[str]:
    names = {target.stable_service, target.canary_service}
    return [
        str(ref.get("name")) if isinstance(ref, dict) else repr(ref)
        for ref in rule.get("backendRefs") or []
        if not any(is_service_ref(ref, name) for name in names)
    ]


def plan_http_route(route: JsonObject, target: GatewayTarget) -> HTTPRoutePlan:
    """The guarded patch that makes ``route`` carry ``target``, or the problems instead."""
    spec = route.get("spec") or {}
    rules: list[Any] = spec.get("rules") or []
    weighted = weighted_rules(rules, target)
    problems: list[str] = []
    if not weighted:
        problems.append(f"has no rule sending to Service {target.stable_service}")
    for index in weighted:
        others = _other_backends(rules[index], target)
        if others:
            problems.append(
                f"rule {index} also sends to {', '.join(others)}, which we do not manage"
            )
    if target.routing is not None and target.routing.affinity is not None and target.canary_active:
        problems.append("sessionAffinity is not supported on an HTTPRoute")
    if problems:
        return HTTPRoutePlan([], problems)
    ops: list[Operation] = []
    for index in weighted:
        ops += _plan_weighted(f"/spec/rules/{index}", rules[index], target)
    name = header_rule_name(target.owner)
    existing = next(
        (i for i, rule in enumerate(rules) if isinstance(rule, dict) and rule.get("name") == name),
        None,
    )
    if target.routing is None and target.canary_active and existing is not None:
        wanted: JsonObject | None = rules[existing]
    else:
        wanted = _header_rule(rules[weighted[0]], target)
    if existing is not None and rules[existing] != wanted:
        at = f"/spec/rules/{existing}"
        ops.append({"op": "test", "path": at, "value": rules[existing]})
        ops.append(
            {"op": "remove", "path": at}
            if wanted is None
            else {"op": "replace", "path": at, "value": wanted}
        )
    elif existing is None and wanted is not None:
        ops.append({"op": "add", "path": f"/spec/rules/{weighted[0]}", "value": wanted})
    ops += record_operations(route, target.record)
    if not ops:
        return HTTPRoutePlan([], [])
    version = (route.get("metadata") or {}).get("resourceVersion")
    guard = (
        [{"op": "test", "path": "/metadata/resourceVersion", "value": version}] if version else []
    )
    return HTTPRoutePlan(guard + ops, [])
