"""The answers to the verbs on resources, computed without touching the connection.

:mod:`.handlers` reads the request and writes the response; this module decides what the
response says, as the real server would: which kind a path names (:func:`resolve`), how a
body decodes, an object or a ``Table`` of it, a list page with ``continue`` tokens, the
status code and body of a delete, and the objects a deletecollection removed.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import yaml

from kubelite import selectors, status, tables
from kubelite.protobuf_body import PROTOBUF_CONTENT_TYPE, ProtobufBodyError, decode_protobuf_body
from kubelite.resources import ResourceRegistry, ResourceType
from kubelite.routes import Route
from kubelite.storage import ObjectStore

__all__ = [
    "decode_body",
    "decode_object",
    "delete",
    "delete_collection",
    "list_document",
    "matchers",
    "object_document",
    "presented",
    "resolve",
]

JsonObject = dict[str, Any]
Query = dict[str, list[str]]


def resolve(registry: ResourceRegistry, route: Route, verb: str) -> ResourceType:
    """The kind a resource request names, or the 404 or 405 the real server answers."""
    resource = registry.lookup(group=route.group, version=route.version, plural=route.plural)
    if resource is None:
        raise status.resource_not_found()
    if route.namespace is not None and not resource.namespaced:
        raise status.resource_not_found()
    if resource.namespaced and route.namespace is None and verb not in ("list", "watch"):
        if route.name:
            raise status.resource_not_found()
        raise status.method_not_allowed()
    if route.subresource:
        served = (route.subresource == "status" and resource.status_subresource) or (
            route.subresource == "scale" and resource.scale_subresource
        )
        if not served:
            raise status.resource_not_found()
        if verb not in ("get", "update", "patch"):
            raise status.method_not_allowed()
    if verb == "create" and route.name:
        raise status.method_not_allowed()
    return resource


def decode_object(body: bytes) -> JsonObject:
    """A request body (JSON, or YAML as kubectl may send) as an object, or a 400."""
    try:
        document = json.loads(body)
    except ValueError:
        try:
            document = json.loads(json.dumps(yaml.safe_load(body), default=str))
        except yaml.YAMLError as error:
            raise status.bad_request(f"error decoding the request body: {error}") from error
    if not isinstance(document, dict):
        raise status.bad_request("the request body must be a JSON object")
    return document


def decode_body(body: bytes, content_type: str) -> JsonObject:
    """A create or update body: JSON (or YAML), or kubectl's protobuf for built-in kinds."""
    if content_type.split(";")[0].strip() == PROTOBUF_CONTENT_TYPE:
        try:
            return decode_protobuf_body(body)
        except ProtobufBodyError as error:
            raise status.ApiError(
                code=415,
                reason="UnsupportedMediaType",
                message=f"error decoding the protobuf request body: {error}",
                details={},
            ) from error
    return decode_object(body)


def presented(resource: ResourceType, version: str, obj: JsonObject) -> JsonObject:
    """The stored object as the requested version of its kind shows it."""
    shown = dict(obj)
    shown["apiVersion"] = resource.api_version(version)
    return shown


def object_document(
    resource: ResourceType, version: str, obj: JsonObject, query: Query, *, accept: str
) -> JsonObject:
    """One object as the client asked for it: the object, or a ``Table`` of one row."""
    shown = presented(resource, version, obj)
    if not tables.wants_table(accept):
        return shown
    return tables.table_for(
        resource,
        [shown],
        resource_version=str(obj["metadata"].get("resourceVersion", "")),
        include_object=query.get("includeObject", ["Metadata"])[0],
    )


def matchers(resource: ResourceType, query: Query) -> list[selectors.Matcher]:
    """The label and field selectors of a list, watch or deletecollection request."""
    found = selectors.parse_label_selector(query.get("labelSelector", [""])[0])
    found += selectors.parse_field_selector(
        query.get("fieldSelector", [""])[0], allowed=resource.field_selectors()
    )
    return found


def list_document(
    store: ObjectStore, resource: ResourceType, route: Route, query: Query, *, accept: str
) -> JsonObject:
    """``kind: XList`` (or a ``Table``) of the selected objects, one page of them."""
    selecting = matchers(resource, query)
    items, revision = store.list_objects(resource, route.namespace)
    selected = [
        presented(resource, route.version, obj)
        for obj in items
        if selectors.match_all(selecting, obj)
    ]
    metadata: JsonObject = {"resourceVersion": str(revision)}
    start = 0
    if token := query.get("continue", [""])[0]:
        try:
            start = int(json.loads(base64.urlsafe_b64decode(token))["start"])
        except (ValueError, KeyError, TypeError) as error:
            raise status.bad_request("continue key is not valid") from error
    limit = int(query.get("limit", ["0"])[0] or 0)
    page = selected[start : start + limit] if limit > 0 else selected[start:]
    if limit > 0 and start + limit < len(selected):
        next_token = json.dumps({"start": start + limit, "rv": revision}).encode()
        metadata["continue"] = base64.urlsafe_b64encode(next_token).decode()
        metadata["remainingItemCount"] = len(selected) - start - limit
    elif resource.custom:
        metadata["continue"] = ""  # unstructured lists always carry it
    if tables.wants_table(accept):
        table = tables.table_for(
            resource,
            page,
            resource_version=str(revision),
            include_object=query.get("includeObject", ["Metadata"])[0],
        )
        table["metadata"] = metadata
        return table
    if not resource.custom:
        page = [{k: v for k, v in obj.items() if k not in ("apiVersion", "kind")} for obj in page]
    return {
        "apiVersion": resource.api_version(route.version),
        "kind": resource.list_kind,
        "metadata": metadata,
        "items": page,
    }


def delete(
    store: ObjectStore, resource: ResourceType, route: Route, body: bytes
) -> tuple[int, JsonObject]:
    """Delete one object; the status code and the body the real server answers with."""
    options = decode_object(body) if body.strip() else {}
    preconditions = options.get("preconditions") if isinstance(options, dict) else None
    namespace = route.namespace or ""
    obj, gone = store.delete(
        resource,
        namespace,
        route.name,
        preconditions=preconditions if isinstance(preconditions, dict) else None,
    )
    shown = presented(resource, route.version, obj)
    if not gone:
        # the real server answers 202 only when orphanDependents is explicitly false
        accepted = isinstance(options, dict) and options.get("orphanDependents") is False
        return (202 if accepted else 200), shown
    return 200, status.success_status(
        group=resource.group,
        plural=resource.plural,
        name=route.name,
        uid=str(obj["metadata"].get("uid", "")),
    )


def delete_collection(
    store: ObjectStore, resource: ResourceType, route: Route, query: Query
) -> JsonObject:
    """Delete the selected objects; the list of what was deleted."""
    selecting = matchers(resource, query)
    items, _ = store.list_objects(resource, route.namespace)
    deleted = []
    for obj in items:
        if not selectors.match_all(selecting, obj):
            continue
        meta = obj["metadata"]
        try:
            gone_obj, _gone = store.delete(resource, meta.get("namespace", ""), meta["name"])
        except status.ApiError as error:
            if error.code == 404:
                continue
            raise
        deleted.append(presented(resource, route.version, gone_obj))
    return {
        "apiVersion": resource.api_version(route.version),
        "kind": resource.list_kind,
        "metadata": {"resourceVersion": str(store.revision)},
        "items": deleted,
    }
