"""Gateway API HTTPRoutes, expressed as the Istio objects that route the same way.

The embedded stack's mesh agent turns Istio objects into Envoy configuration
(``rollout_local.processes.envoy_config``). A cluster that routes by Gateway API has
HTTPRoutes instead, whose backends are Services; a real gateway follows each Service to
its endpoints, the pods its selector picks. This module does that step for the embedded
stack, so HTTPRoutes go through the one Envoy translation:

- each HTTPRoute becomes a VirtualService for its ``hostnames``, one http route per rule
  (named by the rule's ``name``, else ``rule-<index>``), its path and header matches
  (``PathPrefix``/``Exact``/``RegularExpression``; header ``Exact``/``RegularExpression``)
  as Istio's, in the rules' order;
- each ``backendRef`` to a Service is a destination on the subset of the version the
  Service's selector picks (label ``version``) of the host its ``app`` label names,
  ``<app>.<namespace>.svc.cluster.local``: where the pods of that version listen. Two
  backendRefs on the same pods are one destination with both weights (Gateway API
  weights are proportions, a missing one is 1);
- a ``RequestMirror`` filter to a Service becomes the rule's ``mirror`` with its
  ``mirrorPercentage`` (``percent``, or ``fraction``; 100% when neither is given);
- and one DestinationRule per host defines the subsets the Services pick.

What cannot be followed (a backend that is not a Service, a Service not found or with no
``version`` in its selector) is skipped with a warning, as the Istio translation does.
Gateway API ranks matches by specificity where Envoy takes the first that matches; the
rules the router writes (a header rule placed before the weighted rule) are in that
order already. Pure data code: dicts in, dicts out, no I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from rollout_local.processes.envoy_config import qualify_host

__all__ = ["IstioEquivalent", "as_istio"]

Json = dict[str, Any]
_ServiceKey = tuple[str, str]

_PATH_KINDS = {"PathPrefix": "prefix", "Exact": "exact", "RegularExpression": "regex"}
_HEADER_KINDS = {"Exact": "exact", "RegularExpression": "regex", None: "exact"}


@dataclasses.dataclass
class IstioEquivalent:
    """The VirtualServices and DestinationRules that route as the HTTPRoutes do."""

    virtual_services: list[Json] = dataclasses.field(default_factory=list)
    destination_rules: list[Json] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)


def _metadata(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    metadata = obj.get("metadata")
    return metadata if isinstance(metadata, Mapping) else {}


def _namespace(obj: Mapping[str, Any]) -> str:
    return str(_metadata(obj).get("namespace") or "default")


def _match(match: Mapping[str, Any], warnings: list[str], where: str) -> Json:
    istio: Json = {}
    path = match.get("path")
    if isinstance(path, Mapping):
        kind = _PATH_KINDS.get(str(path.get("type") or "PathPrefix"))
        if kind is None:
            warnings.append(f"{where}: path match {path.get('type')!r} is not supported")
        else:
            istio["uri"] = {kind: str(path.get("value") or "/")}
    headers: Json = {}
    for header in match.get("headers") or []:
        kind = _HEADER_KINDS.get(header.get("type"))
        if kind is None:
            warnings.append(f"{where}: header match {header.get('type')!r} is not supported")
            continue
        headers[str(header.get("name", "")).lower()] = {kind: str(header.get("value", ""))}
    if headers:
        istio["headers"] = headers
    return istio


class _Services:
    """Services by (namespace, name), followed to the host and subset of their pods."""

    def __init__(self, services: Iterable[Mapping[str, Any]]) -> None:
        self._by_key: dict[_ServiceKey, Mapping[str, Any]] = {
            (_namespace(service), str(_metadata(service).get("name") or "")): service
            for service in services
        }
        self.subsets: dict[str, set[str]] = {}

    def destination(
        self, ref: Any, namespace: str, warnings: list[str], where: str
    ) -> tuple[str, str] | None:
        if not isinstance(ref, Mapping) or ref.get("kind") not in (None, "Service"):
            warnings.append(f"{where}: a backend that is not a Service; skipped")
            return None
        key = (str(ref.get("namespace") or namespace), str(ref.get("name") or ""))
        service = self._by_key.get(key)
        if service is None:
            warnings.append(f"{where}: Service {key[0]}/{key[1]} not found; skipped")
            return None
        selector = (service.get("spec") or {}).get("selector") or {}
        app, version = selector.get("app"), selector.get("version")
        if not app or not version:
            warnings.append(
                f"{where}: Service {key[0]}/{key[1]} selects no app and version; skipped"
            )
            return None
        host = qualify_host(str(app), key[0])
        self.subsets.setdefault(host, set()).add(str(version))
        return host, str(version)


def _mirror(
    rule: Mapping[str, Any], services: _Services, namespace: str, where: str, warnings: list[str]
) -> Json:
    for entry in rule.get("filters") or []:
        if not isinstance(entry, Mapping) or entry.get("type") != "RequestMirror":
            continue
        mirror = entry.get("requestMirror") or {}
        found = services.destination(mirror.get("backendRef"), namespace, warnings, where)
        if found is None:
            continue
        fraction = mirror.get("fraction")
        if "percent" in mirror:
            percent = float(mirror["percent"])
        elif isinstance(fraction, Mapping):
            percent = 100.0 * float(fraction["numerator"]) / float(fraction.get("denominator", 100))
        else:
            percent = 100.0
        return {
            "mirror": {"host": found[0], "subset": found[1]},
            "mirrorPercentage": {"value": percent},
        }
    return {}


def _http_route(
    rule: Mapping[str, Any],
    index: int,
    services: _Services,
    namespace: str,
    where: str,
    warnings: list[str],
) -> Json:
    name = str(rule.get("name") or f"rule-{index}")
    rule_where = f"{where} rule {name!r}"
    weights: dict[tuple[str, str], int] = {}
    for ref in rule.get("backendRefs") or []:
        found = services.destination(ref, namespace, warnings, rule_where)
        if found is not None:
            weight = int(ref.get("weight", 1)) if isinstance(ref, Mapping) else 1
            weights[found] = weights.get(found, 0) + weight
    http: Json = {
        "name": name,
        "match": [_match(match, warnings, rule_where) for match in rule.get("matches") or [{}]],
        "route": [
            {"destination": {"host": host, "subset": subset}, "weight": weight}
            for (host, subset), weight in weights.items()
        ],
    }
    return http | _mirror(rule, services, namespace, rule_where, warnings)


def as_istio(
    http_routes: Iterable[Mapping[str, Any]], services: Iterable[Mapping[str, Any]]
) -> IstioEquivalent:
    """The Istio objects that route as ``http_routes`` do, their Services followed."""
    known = _Services(services)
    result = IstioEquivalent()
    for route in http_routes:
        namespace = _namespace(route)
        name = str(_metadata(route).get("name") or "?")
        where = f"HTTPRoute {namespace}/{name}"
        spec = route.get("spec") or {}
        hostnames = [str(host) for host in spec.get("hostnames") or []]
        if not hostnames:
            result.warnings.append(f"{where}: no hostnames; skipped")
            continue
        http = [
            _http_route(rule, index, known, namespace, where, result.warnings)
            for index, rule in enumerate(spec.get("rules") or [])
            if isinstance(rule, Mapping)
        ]
        result.virtual_services.append(
            {
                "metadata": {"name": f"httproute.{name}", "namespace": namespace},
                "spec": {"hosts": hostnames, "http": http},
            }
        )
    for host, subsets in sorted(known.subsets.items()):
        result.destination_rules.append(
            {
                "metadata": {"name": f"services.{host}", "namespace": "default"},
                "spec": {"host": host, "subsets": [{"name": s} for s in sorted(subsets)]},
            }
        )
    return result
