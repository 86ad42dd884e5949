"""Translate Istio VirtualServices and DestinationRules into Envoy route and cluster resources.

The embedded stack has no istiod, so this module does its job for the small part of the
Istio API the project relies on: named HTTP routes with URI and header matches, weighted
destinations by subset (with response headers to add, as sticky sessions set their cookie),
a mirror with its percentage, and DestinationRule subsets. It is pure data code: plain dicts in
(exactly as the Kubernetes API returns the objects), plain dicts out (the JSON shape of
``envoy.config.route.v3.RouteConfiguration`` and ``envoy.config.cluster.v3.Cluster``, each
with its ``@type`` so they can be written straight into a file-based xDS response). No I/O.

Clusters are named the way Istio names outbound clusters, ``outbound|<port>|<subset>|<host>``,
so Envoy's per-cluster statistics carry the version, and the Prometheus recording rules in
``rollout_local.processes.recording_rules`` can turn them into Istio's standard metrics.

What is not translated is skipped with a logged warning rather than failing the whole
config: a destination whose subset the DestinationRule does not define, or for which no
backend address is known, is dropped from its route, and a route left with no destination
answers 503 like a mesh with no healthy upstream.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CLUSTER_TYPE",
    "DEFAULT_PORT",
    "ROUTE_CONFIG_NAME",
    "ROUTE_TYPE",
    "BackendAddress",
    "EnvoyResources",
    "cluster_name",
    "parse_cluster_name",
    "qualify_host",
    "translate",
]

logger = logging.getLogger(__name__)

ROUTE_CONFIG_NAME = "outbound_http"
ROUTE_TYPE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
CLUSTER_TYPE = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
DEFAULT_PORT = 80
CLUSTER_DOMAIN = "svc.cluster.local"

Json = dict[str, Any]


@dataclass(frozen=True)
class BackendAddress:
    """Where one (host, subset) actually listens, e.g. ``BackendAddress("127.0.0.1", 18081)``."""

    address: str
    port: int

    @classmethod
    def parse(cls, text: str) -> BackendAddress:
        """``"127.0.0.1:18081"`` or ``"localhost:18081"``."""
        address, separator, port = text.rpartition(":")
        if not separator or not address or not port.isdigit():
            raise ValueError(f"a backend address must look like host:port, got {text!r}")
        return cls(address, int(port))

    @property
    def is_ip(self) -> bool:
        try:
            ipaddress.ip_address(self.address)
        except ValueError:
            return False
        return True

    def __str__(self) -> str:
        return f"{self.address}:{self.port}"


@dataclass
class EnvoyResources:
    """One consistent snapshot for Envoy: the route configuration and the clusters it uses."""

    routes: Json
    clusters: list[Json] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def cluster_names(self) -> list[str]:
        return [str(cluster["name"]) for cluster in self.clusters]


def qualify_host(host: str, namespace: str) -> str:
    """Istio's short-name rule: ``checkout`` in namespace ``demo`` is
    ``checkout.demo.svc.cluster.local``; a name with a dot is taken as given."""
    if "." in host or host == "*":
        return host
    return f"{host}.{namespace}.{CLUSTER_DOMAIN}"


def cluster_name(host: str, subset: str, port: int = DEFAULT_PORT) -> str:
    """``outbound|80|v2|checkout.demo.svc.cluster.local``, as Istio names outbound clusters."""
    return f"outbound|{port}|{subset}|{host}"


def parse_cluster_name(name: str) -> tuple[int, str, str] | None:
    """The inverse of ``cluster_name``: ``(port, subset, host)``, or ``None`` for other names."""
    parts = name.split("|")
    if len(parts) != 4 or parts[0] != "outbound" or not parts[1].isdigit():
        return None
    return int(parts[1]), parts[2], parts[3]


def _namespace(obj: Mapping[str, Any]) -> str:
    return str(obj.get("metadata", {}).get("namespace") or "default")


def _object_name(obj: Mapping[str, Any]) -> str:
    metadata = obj.get("metadata", {})
    return f"{_namespace(obj)}/{metadata.get('name', '?')}"


def _string_match(spec: Mapping[str, Any]) -> Json | None:
    """Istio's StringMatch (``exact``/``prefix``/``regex``) as Envoy's StringMatcher."""
    if "exact" in spec:
        return {"exact": str(spec["exact"])}
    if "prefix" in spec:
        return {"prefix": str(spec["prefix"])}
    if "regex" in spec:
        return {"safe_regex": {"regex": str(spec["regex"])}}
    return None


def _route_match(match: Mapping[str, Any], warn: list[str], where: str) -> Json:
    """One Istio HTTPMatchRequest as an Envoy RouteMatch (URI and headers)."""
    envoy_match: Json = {}
    uri = match.get("uri") or {}
    if "exact" in uri:
        envoy_match["path"] = str(uri["exact"])
    elif "prefix" in uri:
        envoy_match["prefix"] = str(uri["prefix"])
    elif "regex" in uri:
        envoy_match["safe_regex"] = {"regex": str(uri["regex"])}
    else:
        envoy_match["prefix"] = "/"
    headers = []
    for header_name, condition in (match.get("headers") or {}).items():
        matcher = _string_match(condition or {})
        if matcher is None:
            warn.append(f"{where}: header {header_name!r} has no exact/prefix/regex; ignored")
            continue
        headers.append({"name": str(header_name).lower(), "string_match": matcher})
    if headers:
        envoy_match["headers"] = headers
    unsupported = sorted(set(match) - {"name", "uri", "headers"})
    if unsupported:
        warn.append(f"{where}: match fields {unsupported} are not supported; ignored")
    return envoy_match


@dataclass(frozen=True)
class _Subsets:
    """The subsets each DestinationRule host defines."""

    by_host: Mapping[str, frozenset[str]]

    @classmethod
    def from_rules(cls, destination_rules: Iterable[Mapping[str, Any]]) -> _Subsets:
        by_host: dict[str, set[str]] = {}
        for rule in destination_rules:
            spec = rule.get("spec") or {}
            host = spec.get("host")
            if not host:
                continue
            names = {str(s["name"]) for s in spec.get("subsets") or [] if s.get("name")}
            by_host.setdefault(qualify_host(str(host), _namespace(rule)), set()).update(names)
        return cls({host: frozenset(names) for host, names in by_host.items()})

    def defines(self, host: str, subset: str) -> bool:
        return subset in self.by_host.get(host, frozenset())


class _Translation:
    """Accumulates clusters and warnings while the routes are translated."""

    def __init__(
        self,
        subsets: _Subsets,
        backends: Mapping[tuple[str, str], BackendAddress],
        connect_timeout: str,
    ) -> None:
        self.subsets = subsets
        self.backends = backends
        self.connect_timeout = connect_timeout
        self.clusters: dict[str, Json] = {}
        self.warnings: list[str] = []

    def add_cluster(self, host: str, subset: str, port: int) -> str | None:
        """The cluster for one destination, created on first use; ``None`` if unusable."""
        name = cluster_name(host, subset, port)
        if name in self.clusters:
            return name
        backend = self.backends.get((host, subset))
        if backend is None:
            self.warnings.append(f"no backend address for host {host!r} subset {subset!r}")
            return None
        self.clusters[name] = {
            "@type": CLUSTER_TYPE,
            "name": name,
            "type": "STATIC" if backend.is_ip else "STRICT_DNS",
            "connect_timeout": self.connect_timeout,
            "load_assignment": {
                "cluster_name": name,
                "endpoints": [
                    {
                        "lb_endpoints": [
                            {
                                "endpoint": {
                                    "address": {
                                        "socket_address": {
                                            "address": backend.address,
                                            "port_value": backend.port,
                                        }
                                    }
                                }
                            }
                        ]
                    }
                ],
            },
        }
        return name

    def destination_cluster(
        self, route: Mapping[str, Any], namespace: str, where: str
    ) -> str | None:
        destination = route.get("destination") or {}
        if not destination.get("host"):
            self.warnings.append(f"{where}: a destination without host; skipped")
            return None
        host = qualify_host(str(destination["host"]), namespace)
        subset = str(destination.get("subset") or "")
        port = int((destination.get("port") or {}).get("number") or DEFAULT_PORT)
        if subset and not self.subsets.defines(host, subset):
            self.warnings.append(
                f"{where}: subset {subset!r} of {host!r} is not defined by any "
                "DestinationRule; destination skipped"
            )
            return None
        return self.add_cluster(host, subset, port)

    def route_action(self, http: Mapping[str, Any], namespace: str, where: str) -> Json:
        """The Envoy action for one Istio HTTPRoute: weighted clusters, or 503 if none left."""
        destinations = list(http.get("route") or [])
        weighted: list[Json] = []
        for destination in destinations:
            name = self.destination_cluster(destination, namespace, where)
            if name is None:
                continue
            weight = destination.get("weight")
            if weight is None:
                weight = 100 if len(destinations) == 1 else 0
            entry: Json = {"name": name, "weight": int(weight)}
            entry.update(_response_headers(destination))
            weighted.append(entry)
        if not weighted or sum(entry["weight"] for entry in weighted) <= 0:
            self.warnings.append(f"{where}: no usable destination with weight; answering 503")
            return {
                "direct_response": {"status": 503, "body": {"inline_string": "no healthy upstream"}}
            }
        action: Json = {"weighted_clusters": {"clusters": weighted}}
        if len(weighted) == 1:
            action = {"cluster": weighted[0]["name"]}
        mirror = self.mirror_policy(http, namespace, where)
        if mirror is not None:
            action["request_mirror_policies"] = [mirror]
        result: Json = {"route": action}
        if len(weighted) == 1 and "response_headers_to_add" in weighted[0]:
            result["response_headers_to_add"] = weighted[0]["response_headers_to_add"]
        return result

    def mirror_policy(self, http: Mapping[str, Any], namespace: str, where: str) -> Json | None:
        """Istio's ``mirror`` and ``mirrorPercentage`` as Envoy's request mirror policy
        (100% when no percentage is given, as Istio reads it)."""
        mirror = http.get("mirror")
        if not isinstance(mirror, Mapping):
            return None
        name = self.destination_cluster({"destination": mirror}, namespace, f"{where} mirror")
        if name is None:
            return None
        percentage = http.get("mirrorPercentage") or {}
        value = float(percentage.get("value", 100.0)) if isinstance(percentage, Mapping) else 100.0
        numerator = round(max(0.0, min(100.0, value)) * 10_000)
        return {
            "cluster": name,
            "runtime_fraction": {
                "default_value": {"numerator": numerator, "denominator": "MILLION"}
            },
        }


def _response_headers(destination: Mapping[str, Any]) -> Json:
    """A destination's ``headers.response.add`` as Envoy's ``response_headers_to_add``
    (appended, as Istio's ``add`` is); the sticky-session cookie comes this way."""
    headers = destination.get("headers") or {}
    response = headers.get("response") if isinstance(headers, Mapping) else None
    added = response.get("add") if isinstance(response, Mapping) else None
    if not isinstance(added, Mapping) or not added:
        return {}
    return {
        "response_headers_to_add": [
            {
                "header": {"key": str(key), "value": str(value)},
                "append_action": "APPEND_IF_EXISTS_OR_ADD",
            }
            for key, value in added.items()
        ]
    }


def _domains(hosts: Iterable[str], namespace: str) -> list[str]:
    """The Host header values one VirtualService answers: as written, short and qualified."""
    domains: list[str] = []
    for host in hosts:
        qualified = qualify_host(host, namespace)
        candidates = [host, qualified]
        if qualified.endswith(f".{CLUSTER_DOMAIN}"):
            short = qualified.removesuffix(f".{CLUSTER_DOMAIN}")
            candidates += [short, short.split(".")[0]] if short.count(".") == 1 else [short]
        for candidate in candidates:
            if candidate not in domains:
                domains.append(candidate)
    return domains


def translate(
    virtual_services: Iterable[Mapping[str, Any]],
    destination_rules: Iterable[Mapping[str, Any]],
    backends: Mapping[tuple[str, str], BackendAddress | str],
    *,
    connect_timeout: str = "1s",
    route_config_name: str = ROUTE_CONFIG_NAME,
) -> EnvoyResources:
    """Translate Istio objects into one Envoy route configuration and its clusters.

    ``backends`` maps ``(qualified host, subset)`` to where that version listens, e.g.
    ``{("checkout.demo.svc.cluster.local", "v1"): "127.0.0.1:18081"}``. Every subset of every
    DestinationRule with a known backend becomes a cluster, even when no route sends traffic
    to it yet, so its statistics exist from the start. Warnings are logged and returned.
    """
    resolved = {
        key: value if isinstance(value, BackendAddress) else BackendAddress.parse(value)
        for key, value in backends.items()
    }
    rules = list(destination_rules)
    translation = _Translation(_Subsets.from_rules(rules), resolved, connect_timeout)
    virtual_hosts: list[Json] = []
    claimed_domains: set[str] = set()
    for service in sorted(virtual_services, key=_object_name):
        namespace = _namespace(service)
        where = f"VirtualService {_object_name(service)}"
        spec = service.get("spec") or {}
        domains = [d for d in _domains(spec.get("hosts") or [], namespace)]
        taken = [d for d in domains if d in claimed_domains]
        if taken:
            translation.warnings.append(f"{where}: hosts {taken} already routed; skipped")
        domains = [d for d in domains if d not in claimed_domains]
        if not domains:
            continue
        claimed_domains.update(domains)
        routes: list[Json] = []
        for index, http in enumerate(spec.get("http") or []):
            route_name = str(http.get("name") or f"route-{index}")
            route_where = f"{where} route {route_name!r}"
            action = translation.route_action(http, namespace, route_where)
            for match in http.get("match") or [{}]:
                envoy_route: Json = {
                    "name": route_name,
                    "match": _route_match(match, translation.warnings, route_where),
                }
                envoy_route.update(action)
                routes.append(envoy_route)
        virtual_hosts.append(
            {"name": _object_name(service).replace("/", "."), "domains": domains, "routes": routes}
        )
    for rule in rules:
        spec = rule.get("spec") or {}
        if not spec.get("host"):
            continue
        host = qualify_host(str(spec["host"]), _namespace(rule))
        for subset in spec.get("subsets") or []:
            if subset.get("name") and (host, str(subset["name"])) in resolved:
                translation.add_cluster(host, str(subset["name"]), DEFAULT_PORT)
    for warning in translation.warnings:
        logger.warning("%s", warning)
    return EnvoyResources(
        routes={"@type": ROUTE_TYPE, "name": route_config_name, "virtual_hosts": virtual_hosts},
        clusters=sorted(translation.clusters.values(), key=lambda cluster: str(cluster["name"])),
        warnings=translation.warnings,
    )
