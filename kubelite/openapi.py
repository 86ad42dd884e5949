"""Just enough OpenAPI v3 for kubectl: the index and one small document per group-version.

kubectl (``apply``, ``create``, ``replace``) validates manifests with
``--validate=strict`` by default. It first asks the server's OpenAPI v3 whether the PATCH
operation of the kind takes the ``fieldValidation`` query parameter; if so it leaves
validation to the server, and if OpenAPI cannot be read at all it fails with "failed to
download openapi". So ``/openapi/v3`` lists every served group-version and
``/openapi/v3/apis/GROUP/VERSION`` describes, for each kind, a PATCH operation tagged with
``x-kubernetes-group-version-kind`` that declares ``fieldValidation``. No schemas are
published: kubectl then falls back to its built-in types for strategic merge patches, as
it does against servers without OpenAPI. ``/openapi/v2`` stays a 404. Pure functions.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from kubelite.resources import ResourceRegistry, ResourceType

__all__ = ["group_version_document", "index_document"]

JsonObject = dict[str, Any]

_QUERY_PARAMETERS = ("fieldValidation", "fieldManager", "dryRun", "force", "pretty")


def _group_version_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _item_path(resource: ResourceType, group: str, version: str) -> str:
    prefix = "/" + _group_version_path(group, version)
    if resource.namespaced:
        return f"{prefix}/namespaces/{{namespace}}/{resource.plural}/{{name}}"
    return f"{prefix}/{resource.plural}/{{name}}"


def group_version_document(
    registry: ResourceRegistry, *, group: str, version: str
) -> JsonObject | None:
    """The OpenAPI v3 document of one group-version, or ``None`` if it is not served."""
    resources = registry.resources_in(group=group, version=version)
    if not resources:
        return None
    paths: JsonObject = {}
    for resource in resources:
        paths[_item_path(resource, group, version)] = {
            "patch": {
                "operationId": f"patch{resource.kind}",
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": {
                    "group": group,
                    "version": version,
                    "kind": resource.kind,
                },
                "parameters": [
                    {"name": name, "in": "query", "schema": {"type": "string"}}
                    for name in _QUERY_PARAMETERS
                ],
                "requestBody": {
                    "content": {
                        media: {"schema": {"type": "object"}} for media in resource.patch_types()
                    }
                },
                "responses": {"200": {"description": "OK"}},
            }
        }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.37.0"},
        "paths": paths,
        "components": {"schemas": {}},
    }


def index_document(registry: ResourceRegistry) -> JsonObject:
    """``/openapi/v3``: every group-version with a URL whose hash changes with its content."""
    paths: JsonObject = {}
    for group, versions in registry.group_versions().items():
        for version in versions:
            document = group_version_document(registry, group=group, version=version)
            digest = hashlib.sha512(json.dumps(document, sort_keys=True).encode()).hexdigest()
            relative = _group_version_path(group, version)
            paths[relative] = {"serverRelativeURL": f"/openapi/v3/{relative}?hash={digest[:128]}"}
    return {"paths": paths}
