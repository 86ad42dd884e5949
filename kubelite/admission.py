"""What the server checks on a write and what it fills in, before the store keeps it.

The real API server's rules for an object on its way in: the kind and namespace in the body
agree with the URL, the name is a DNS-1123 subdomain (or made from ``generateName``),
delete preconditions hold, system metadata (uid, timestamps, generation) is the server's
own, the generation moves only with the spec, and the kinds with server-set content
(CustomResourceDefinitions and Namespaces) get it. :mod:`.storage` calls these on every
write; they keep no state.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from typing import Any

from kubelite import crds, defaults, status
from kubelite.resources import CRD_GROUP, ResourceType

__all__ = [
    "SYSTEM_METADATA",
    "check_identity",
    "check_preconditions",
    "check_url_name",
    "generated_name",
    "prepare_special_kinds",
    "spec_changed",
    "utc_timestamp",
    "validate_name",
]

JsonObject = dict[str, Any]

_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
SYSTEM_METADATA = (
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
)
_GENERATE_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def utc_timestamp() -> str:
    """Now, as the RFC 3339 second-precision UTC string Kubernetes writes."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def generated_name(prefix: str) -> str:
    """``generateName`` plus five random characters, from the real server's alphabet."""
    return prefix + "".join(secrets.choice(_GENERATE_NAME_ALPHABET) for _ in range(5))


def spec_changed(resource: ResourceType, old: JsonObject, new: JsonObject) -> bool:
    """Whether a write moves the generation: the spec (for custom resources, anything but
    metadata) changed."""
    if resource.custom:
        strip = ("metadata", "apiVersion", "kind")
        return {k: v for k, v in old.items() if k not in strip} != {
            k: v for k, v in new.items() if k not in strip
        }
    if resource.generation_tracks_spec:
        return old.get("spec") != new.get("spec")
    return False


def check_url_name(obj: JsonObject, name: str) -> None:
    """A name in the body must be the name on the URL (400 otherwise)."""
    given = obj["metadata"].get("name")
    if given and given != name:
        raise status.bad_request(
            f"the name of the object ({given}) does not match the name on the URL ({name})"
        )


def check_identity(resource: ResourceType, namespace: str, obj: JsonObject) -> None:
    """The body's kind and namespace, when given, must be the URL's (400 otherwise)."""
    kind = obj.get("kind")
    if kind and kind != resource.kind:
        raise status.bad_request(
            f'{kind} in version "{resource.preferred_version}" cannot be handled as a '
            f"{resource.kind}: the kind in the body does not match the URL"
        )
    given_namespace = obj["metadata"].get("namespace")
    if resource.namespaced and given_namespace and given_namespace != namespace:
        raise status.bad_request(
            "the namespace of the provided object does not match the namespace sent on the request"
        )


def validate_name(resource: ResourceType, name: str) -> None:
    """A name is required and must be a DNS-1123 subdomain (422 Invalid otherwise)."""

    def invalid(value: str, detail: str, cause: str) -> status.ApiError:
        return status.invalid(
            kind=resource.kind,
            group=resource.group,
            name=name,
            field="metadata.name",
            value=value,
            detail=detail,
            cause=cause,
        )

    if not name:
        raise invalid("", "name or generateName is required", "FieldValueRequired")
    if len(name) > 253 or not _DNS1123_SUBDOMAIN.match(name):
        raise invalid(
            f'"{name}"',
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
            "characters, '-' or '.', and must start and end with an alphanumeric character",
            "FieldValueInvalid",
        )


def check_preconditions(resource: ResourceType, obj: JsonObject, preconditions: JsonObject) -> None:
    """Delete preconditions (uid, resourceVersion) must match the object (409 otherwise)."""
    meta = obj["metadata"]
    for field_name, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
        wanted = preconditions.get(field_name)
        if wanted and str(wanted) != str(meta.get(field_name)):
            raise status.conflict(
                group=resource.group,
                plural=resource.plural,
                name=str(meta["name"]),
                cause=(
                    f"Precondition failed: {label} in precondition: {wanted}, "
                    f"{label} in object meta: {meta.get(field_name)}"
                ),
            )


def prepare_special_kinds(resource: ResourceType, obj: JsonObject, *, now: str) -> None:
    """Fill in what the server sets on a new CRD (its status) or built-in (:mod:`.defaults`)."""
    if resource.key == (CRD_GROUP, "customresourcedefinitions"):
        crds.validate_crd(obj)
        obj["status"] = crds.crd_status(obj, now=now)
    elif not resource.custom:
        defaults.apply_defaults(resource.key, obj, created=True)
