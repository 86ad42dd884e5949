"""PATCH bodies: JSON patch, JSON merge patch and strategic merge patch.

:func:`patch_function` checks the content type against what the resource accepts (custom
resources take no strategic merge patch: 415 UnsupportedMediaType, as on a cluster), decodes
the body and returns a function the store applies to the current object under its lock.
Failures carry the real server's answers:

- a JSON patch that is not a list of operations: 400 BadRequest;
- a JSON patch that fails to apply, including a failed ``test`` op: 422 with reason
  ``Invalid``, message "the server rejected our request due to an error in our request" and
  the patch library's error as the cause (``errors.NewGenericServerResponse``);
- a merge patch whose body is not an object (e.g. a JSON-patch list sent as merge patch):
  400 BadRequest under ``fieldValidation=Strict|Warn``, else 422 Invalid on ``patch``, since
  the merged document is no longer an object.

Strategic merge patch covers what kubectl sends for built-in kinds: maps merge, ``null``
deletes, lists of objects merge by the Kubernetes merge keys (containers by name, ports by
containerPort or port, ...), other lists are replaced, and the ``$patch``,
``$setElementOrder/``, ``$retainKeys`` and ``$deleteFromPrimitiveList/`` directives apply.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import jsonpatch

from kubelite import status
from kubelite.resources import ResourceType

__all__ = [
    "JSON_PATCH",
    "MERGE_PATCH",
    "STRATEGIC_MERGE_PATCH",
    "apply_merge_patch",
    "apply_strategic_merge_patch",
    "patch_function",
]

JsonObject = dict[str, Any]
PatchFunction = Callable[[JsonObject], JsonObject]

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"

_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "ownerReferences": "uid",
    "conditions": "type",
    "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name",
}
_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
_MERGED_PRIMITIVE_LISTS = ("finalizers",)


def patch_function(resource: ResourceType, content_type: str, body: bytes) -> PatchFunction:
    """Validate a PATCH request and return the function that applies it."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type not in resource.patch_types():
        raise status.unsupported_media_type(resource.patch_types())
    try:
        document = json.loads(body or b"null")
    except ValueError as error:
        raise status.bad_request(f"error decoding patch: {error}") from error
    if media_type == JSON_PATCH:
        return _json_patch_function(document)
    if not isinstance(document, dict):
        return _rejected_merge_function(document)
    if media_type == MERGE_PATCH:
        return lambda current: apply_merge_patch(current, document)
    return lambda current: apply_strategic_merge_patch(current, document)


def _json_patch_function(document: Any) -> PatchFunction:
    if not isinstance(document, list) or not all(isinstance(op, dict) for op in document):
        kind = "object" if isinstance(document, dict) else type(document).__name__
        raise status.bad_request(
            f"json: cannot unmarshal {kind} into Go value of type jsonpatch.Patch"
        )
    for operation in document:
        if operation.get("op") not in ("add", "remove", "replace", "move", "copy", "test"):
            raise status.bad_request(f"Unexpected kind: {operation.get('op')}")

    def apply(current: JsonObject) -> JsonObject:
        try:
            patched = jsonpatch.JsonPatch(document).apply(current)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as error:
            raise status.rejected_patch() from error
        if not isinstance(patched, dict):
            raise _not_an_object(patched)
        return patched

    return apply


def _not_an_object(patched: Any) -> status.ApiError:
    return status.invalid(
        kind="",
        group="",
        name="",
        field="patch",
        value=json.dumps(json.dumps(patched, separators=(",", ":"))),
        detail=(
            "couldn't get version/kind; json parse error: json: cannot unmarshal "
            f"{'array' if isinstance(patched, list) else 'value'} into Go value of type "
            'struct { APIVersion string "json:\\"apiVersion,omitempty\\""; '
            'Kind string "json:\\"kind,omitempty\\"" }'
        ),
        cause="FieldValueInvalid",
    )


def _rejected_merge_function(document: Any) -> PatchFunction:
    """A merge patch whose body is not a JSON object: kube-apiserver 1.37 answers 400."""
    if document is None:
        raise status.bad_request("Invalid JSON Patch")
    go_type = "array" if isinstance(document, list) else "value"
    raise status.bad_request(
        f"error decoding patch: json: cannot unmarshal {go_type} into Go value of type "
        "map[string]interface {}"
    )


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return result


def apply_strategic_merge_patch(target: JsonObject, patch: JsonObject) -> JsonObject:
    """Kubernetes strategic merge patch for built-in kinds (see the module docstring)."""
    return _merge_map(target, patch, ())


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _strip_directives(v)
            for k, v in value.items()
            if not k.startswith("$") and v is not None
        }
    if isinstance(value, list):
        return [_strip_directives(item) for item in value]
    return value


def _merge_map(target: JsonObject, patch: JsonObject, path: tuple[str, ...]) -> JsonObject:
    patch = dict(patch)
    directive = patch.pop("$patch", None)
    if directive == "replace":
        return dict(_strip_directives(patch))
    retain_keys = patch.pop("$retainKeys", None)
    orders: dict[str, list[Any]] = {}
    removals: dict[str, list[Any]] = {}
    for key in [k for k in patch if k.startswith("$")]:
        value = patch.pop(key)
        if key.startswith("$setElementOrder/"):
            orders[key.split("/", 1)[1]] = list(value)
        elif key.startswith("$deleteFromPrimitiveList/"):
            removals[key.split("/", 1)[1]] = list(value)
    result = dict(target)
    for key, value in patch.items():
        current = result.get(key)
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            if isinstance(value.get("$patch"), str) and value["$patch"] == "delete":
                result.pop(key, None)
            else:
                result[key] = _merge_map(current if isinstance(current, dict) else {}, value, path)
        elif isinstance(value, list):
            existing = current if isinstance(current, list) else []
            result[key] = _merge_list(existing, value, key, path)
        else:
            result[key] = value
    for key, values in removals.items():
        if isinstance(result.get(key), list):
            result[key] = [item for item in result[key] if item not in values]
    for key, order in orders.items():
        if isinstance(result.get(key), list):
            result[key] = _reorder(result[key], order, _merge_key(key, path))
    if isinstance(retain_keys, list):
        result = {k: v for k, v in result.items() if k in retain_keys}
    return result


def _merge_key(key: str, path: tuple[str, ...]) -> str | None:
    if key == "ports":
        return "containerPort" if any(p in _CONTAINER_LISTS for p in path) else "port"
    return _MERGE_KEYS.get(key)


def _merge_list(target: list[Any], patch: list[Any], key: str, path: tuple[str, ...]) -> list[Any]:
    merge_key = _merge_key(key, path)
    if any(isinstance(item, dict) and item.get("$patch") == "replace" for item in patch):
        return [
            _strip_directives(item)
            for item in patch
            if not (isinstance(item, dict) and item.get("$patch") == "replace")
        ]
    if merge_key is None:
        if key in _MERGED_PRIMITIVE_LISTS:
            return list(target) + [item for item in patch if item not in target]
        return [_strip_directives(item) for item in patch]
    result = list(target)
    for item in patch:
        if not isinstance(item, dict):
            continue
        position = next(
            (
                i
                for i, existing in enumerate(result)
                if isinstance(existing, dict) and existing.get(merge_key) == item.get(merge_key)
            ),
            None,
        )
        if item.get("$patch") == "delete":
            if position is not None:
                result.pop(position)
        elif position is not None:
            result[position] = _merge_map(result[position], item, (*path, key))
        else:
            result.append(_merge_map({}, item, (*path, key)))
    return result


def _reorder(items: list[Any], order: list[Any], merge_key: str | None) -> list[Any]:
    def identity(item: Any) -> Any:
        if merge_key is not None and isinstance(item, dict):
            return item.get(merge_key)
        return item

    wanted = [identity(entry) for entry in order]
    ranked = [item for item in items if identity(item) in wanted]
    ranked.sort(key=lambda item: wanted.index(identity(item)))
    return ranked + [item for item in items if identity(item) not in wanted]
