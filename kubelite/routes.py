"""URL routing: which endpoint a request path names, and the Kubernetes verb it means.

Paths follow the real server: ``/api/v1/...`` for the core group, ``/apis/GROUP/VERSION/...``
for the others; namespaced requests are ``.../namespaces/NS/PLURAL[/NAME[/SUBRESOURCE]]``,
cluster-scoped ones (and lists across all namespaces) ``.../PLURAL[/NAME[/SUBRESOURCE]]``.
``/api/v1/namespaces/NAME/status`` is the namespace's own status, not a resource inside it.
The verb is the RBAC verb (``get``, ``list``, ``watch``, ``create``, ``update``, ``patch``,
``delete``, ``deletecollection``), as the request log reports it. Pure functions.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Route", "parse_route", "verb_for"]

_NAMESPACE_SUBRESOURCES = ("status", "finalize")


@dataclass(frozen=True)
class Route:
    """What a path names. ``endpoint`` is ``resource`` or a discovery/health endpoint."""

    endpoint: str
    group: str = ""
    version: str = ""
    namespace: str | None = None
    plural: str = ""
    name: str = ""
    subresource: str = ""


def _resource_route(group: str, version: str, rest: list[str]) -> Route | None:
    namespace: str | None = None
    if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] not in _NAMESPACE_SUBRESOURCES:
        namespace, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3 or not all(rest):
        return None
    return Route(
        endpoint="resource",
        group=group,
        version=version,
        namespace=namespace,
        plural=rest[0],
        name=rest[1] if len(rest) > 1 else "",
        subresource=rest[2] if len(rest) > 2 else "",
    )


def _openapi_route(rest: list[str]) -> Route | None:
    if not rest:
        return Route(endpoint="openapi-index")
    if rest[0] == "api" and len(rest) == 2:
        return Route(endpoint="openapi", version=rest[1])
    if rest[0] == "apis" and len(rest) == 3:
        return Route(endpoint="openapi", group=rest[1], version=rest[2])
    return None


def parse_route(path: str) -> Route | None:
    """The route for a URL path, or ``None`` when the server serves nothing there."""
    parts = [part for part in path.split("/") if part]
    if not parts:
        return Route(endpoint="root")
    head = parts[0]
    if head in ("healthz", "livez", "readyz"):
        return Route(endpoint="health")
    if head == "openapi" and parts[1:2] == ["v3"]:
        return _openapi_route(parts[2:])
    if head == "version" and len(parts) == 1:
        return Route(endpoint="version")
    if head == "api":
        if len(parts) == 1:
            return Route(endpoint="legacy-versions")
        if len(parts) == 2:
            return Route(endpoint="resource-list", version=parts[1])
        return _resource_route("", parts[1], parts[2:])
    if head == "apis":
        if len(parts) == 1:
            return Route(endpoint="group-list")
        if len(parts) == 2:
            return Route(endpoint="group", group=parts[1])
        if len(parts) == 3:
            return Route(endpoint="resource-list", group=parts[1], version=parts[2])
        return _resource_route(parts[1], parts[2], parts[3:])
    return None


def verb_for(method: str, route: Route, *, watch: bool) -> str:
    """The Kubernetes verb of a request on a resource route."""
    method = method.upper()
    if method == "GET":
        if route.name:
            return "get"
        return "watch" if watch else "list"
    if method == "POST":
        return "create"
    if method == "PUT":
        return "update"
    if method == "PATCH":
        return "patch"
    if method == "DELETE":
        return "delete" if route.name else "deletecollection"
    return method.lower()
