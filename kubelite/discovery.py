"""Discovery documents: what ``kubectl`` and client-go read before anything else.

``/version``; ``/api`` (APIVersions) and ``/apis`` (APIGroupList); ``/apis/GROUP``
(APIGroup); ``/api/v1`` and ``/apis/GROUP/VERSION`` (APIResourceList with verbs, scope,
kind, short names, categories and the ``status`` subresource). When a client asks for
aggregated discovery (``Accept: application/json;g=apidiscovery.k8s.io;v=v2;
as=APIGroupDiscoveryList``), ``/api`` and ``/apis`` answer an ``APIGroupDiscoveryList`` in
one round trip, as servers since 1.30 do; otherwise the legacy documents. Built from the
live :class:`ResourceRegistry`, so an applied CRD shows up at once. Pure functions.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from kubelite.resources import ResourceRegistry, ResourceType

__all__ = [
    "AGGREGATED_V2",
    "aggregated_discovery",
    "api_group",
    "api_group_list",
    "api_resource_list",
    "api_versions",
    "negotiated_aggregated_type",
    "version_info",
]

JsonObject = dict[str, Any]

AGGREGATED_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGGREGATED_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
_STATUS_VERBS = ["get", "patch", "update"]
SERVER_MAJOR, SERVER_MINOR = "1", "37"


def version_info() -> JsonObject:
    """The ``/version`` document."""
    return {
        "major": SERVER_MAJOR,
        "minor": SERVER_MINOR,
        "gitVersion": f"v{SERVER_MAJOR}.{SERVER_MINOR}.0-rollout-local",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.25.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def negotiated_aggregated_type(accept: str) -> str | None:
    """The aggregated discovery media type the Accept header allows, if any."""
    for offered in accept.split(","):
        compact = offered.replace(" ", "")
        if "g=apidiscovery.k8s.io" in compact and "as=APIGroupDiscoveryList" in compact:
            if "v=v2beta1" in compact:
                return AGGREGATED_V2BETA1
            if "v=v2" in compact:
                return AGGREGATED_V2
        if compact.startswith("application/json") and "as=" not in compact:
            return None
    return None


def api_versions(*, server_address: str) -> JsonObject:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _group_entry(group: str, versions: list[str]) -> JsonObject:
    entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": entries, "preferredVersion": entries[0]}


def api_group_list(registry: ResourceRegistry) -> JsonObject:
    groups = [
        _group_entry(group, versions)
        for group, versions in registry.group_versions().items()
        if group
    ]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(registry: ResourceRegistry, group: str) -> JsonObject | None:
    versions = registry.group_versions().get(group)
    if not group or not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_entry(group, versions)}


def _storage_version_hash(resource: ResourceType) -> str:
    digest = hashlib.sha256(
        f"{resource.group}/{resource.storage_version}/{resource.kind}".encode()
    ).digest()

    return base64.b64encode(digest[:8]).decode()


def api_resource_list(registry: ResourceRegistry, *, group: str, version: str) -> JsonObject | None:
    resources = registry.resources_in(group=group, version=version)
    if not resources:
        return None
    entries: list[JsonObject] = []
    for resource in resources:
        entry: JsonObject = {
            "name": resource.plural,
            "singularName": resource.singular,
            "namespaced": resource.namespaced,
            "kind": resource.kind,
            "verbs": list(resource.verbs),
        }
        if resource.short_names:
            entry["shortNames"] = list(resource.short_names)
        if resource.categories:
            entry["categories"] = list(resource.categories)
        entry["storageVersionHash"] = _storage_version_hash(resource)
        entries.append(entry)
        if resource.status_subresource:
            entries.append(
                {
                    "name": f"{resource.plural}/status",
                    "singularName": "",
                    "namespaced": resource.namespaced,
                    "kind": resource.kind,
                    "verbs": _STATUS_VERBS,
                }
            )
        if resource.scale_subresource:
            entries.append(
                {
                    "name": f"{resource.plural}/scale",
                    "singularName": "",
                    "namespaced": resource.namespaced,
                    "group": "autoscaling",
                    "version": "v1",
                    "kind": "Scale",
                    "verbs": _STATUS_VERBS,
                }
            )
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": entries,
    }


def _aggregated_resource(resource: ResourceType, version: str) -> JsonObject:
    kind = {"group": resource.group, "version": version, "kind": resource.kind}
    entry: JsonObject = {
        "resource": resource.plural,
        "responseKind": kind,
        "scope": "Namespaced" if resource.namespaced else "Cluster",
        "singularResource": resource.singular,
        "verbs": list(resource.verbs),
    }
    if resource.short_names:
        entry["shortNames"] = list(resource.short_names)
    if resource.categories:
        entry["categories"] = list(resource.categories)
    subresources = []
    if resource.scale_subresource:
        scale_kind = {"group": "autoscaling", "version": "v1", "kind": "Scale"}
        subresources.append(
            {"subresource": "scale", "responseKind": scale_kind, "verbs": _STATUS_VERBS}
        )
    if resource.status_subresource:
        subresources.append({"subresource": "status", "responseKind": kind, "verbs": _STATUS_VERBS})
    if subresources:
        entry["subresources"] = subresources
    return entry


def aggregated_discovery(
    registry: ResourceRegistry, *, legacy: bool, media_type: str
) -> JsonObject:
    """``APIGroupDiscoveryList`` for ``/api`` (``legacy``) or ``/apis``."""
    items: list[JsonObject] = []
    for group, versions in registry.group_versions().items():
        if legacy != (group == ""):
            continue
        version_docs = [
            {
                "version": version,
                "resources": [
                    _aggregated_resource(resource, version)
                    for resource in registry.resources_in(group=group, version=version)
                ],
                "freshness": "Current",
            }
            for version in versions
        ]
        items.append(
            {"metadata": {"name": group, "creationTimestamp": None}, "versions": version_docs}
        )
    api_version = (
        "apidiscovery.k8s.io/v2beta1" if "v2beta1" in media_type else "apidiscovery.k8s.io/v2"
    )
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": api_version,
        "metadata": {},
        "items": items,
    }
