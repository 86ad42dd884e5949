"""CustomResourceDefinitions: turning an applied CRD into a served kind.

When a ``apiextensions.k8s.io/v1`` ``CustomResourceDefinition`` is created or replaced, the
store calls :func:`validate_crd` (the checks the real server makes that clients trip over:
the name must be ``<plural>.<group>``, one storage version, known scope), then
:func:`resource_type_from_crd` to register the kind, and :func:`crd_status` to report it
``Established`` with its accepted names, as ``kubectl wait --for=condition=Established``
expects. :func:`crd_manifest` builds a CRD document from a few arguments, for the
built-in Istio kinds and for tests.
"""

from __future__ import annotations

from typing import Any

from kubelite import status
from kubelite.resources import PrinterColumn, ResourceType, version_priority

__all__ = ["crd_manifest", "crd_status", "resource_type_from_crd", "validate_crd"]

JsonObject = dict[str, Any]

_DEFAULT_COLUMN_DESCRIPTION = (
    "CreationTimestamp is a timestamp representing the server time when this object was created."
)


def _invalid(name: str, field: str, value: str, detail: str) -> status.ApiError:
    return status.invalid(
        kind="CustomResourceDefinition",
        group="apiextensions.k8s.io",
        name=name,
        field=field,
        value=value,
        detail=detail,
        cause="FieldValueInvalid",
    )


def _required(name: str, field: str) -> status.ApiError:
    return status.invalid(
        kind="CustomResourceDefinition",
        group="apiextensions.k8s.io",
        name=name,
        field=field,
        value="",
        detail="",
        cause="FieldValueRequired",
    )


def validate_crd(crd: JsonObject) -> None:
    """Raise 422 Invalid for the CRD mistakes the real server rejects."""
    name = str(crd.get("metadata", {}).get("name", ""))
    spec = crd.get("spec")
    if not isinstance(spec, dict):
        raise _required(name, "spec")
    group = spec.get("group")
    names = spec.get("names") if isinstance(spec.get("names"), dict) else None
    if not group:
        raise _required(name, "spec.group")
    if names is None or not names.get("plural"):
        raise _required(name, "spec.names.plural")
    if not names.get("kind"):
        raise _required(name, "spec.names.kind")
    if name != f"{names['plural']}.{group}":
        raise _invalid(
            name, "metadata.name", f'"{name}"', 'must be spec.names.plural+"."+spec.group'
        )
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        raise _invalid(
            name,
            "spec.scope",
            f'"{spec.get("scope", "")}"',
            'supported values: "Cluster", "Namespaced"',
        )
    versions = spec.get("versions")
    if not isinstance(versions, list) or not versions:
        raise _required(name, "spec.versions")
    storage = [v for v in versions if isinstance(v, dict) and v.get("storage")]
    if len(storage) != 1:
        raise _invalid(
            name,
            "spec.versions",
            "[...]",
            "must have exactly one version marked as storage version",
        )
    if not any(isinstance(v, dict) and v.get("served") for v in versions):
        raise _invalid(name, "spec.versions", "[...]", "must have at least one version served")


def check_stored_versions(crd: JsonObject) -> None:
    """Refuse (422) an update whose ``spec.versions`` drops a version objects may be stored in.

    The real server keeps every version that was ever the storage version in
    ``status.storedVersions`` until a storage migration removes it, and refuses a CRD whose
    ``spec.versions`` no longer lists one of them.
    """
    name = str(crd.get("metadata", {}).get("name", ""))
    listed = {str(v.get("name")) for v in crd["spec"]["versions"] if isinstance(v, dict)}
    stored = (crd.get("status") or {}).get("storedVersions") or []
    for index, version in enumerate(stored):
        if version not in listed:
            raise _invalid(
                name,
                f"status.storedVersions[{index}]",
                f'"{version}"',
                f"missing from spec.versions; {version} was previously a storage version, and "
                "must remain in spec.versions until a storage migration ensures no data remains "
                f"persisted in {version} and removes {version} from status.storedVersions",
            )


def _columns(version: JsonObject) -> tuple[PrinterColumn, ...]:
    columns = []
    for column in version.get("additionalPrinterColumns") or ():
        columns.append(
            PrinterColumn(
                name=str(column.get("name", "")),
                type=str(column.get("type", "string")),
                json_path=str(column.get("jsonPath", "")),
                description=str(column.get("description", "")),
                priority=int(column.get("priority", 0)),
                format=str(column.get("format", "")),
            )
        )
    if not any(c.json_path == ".metadata.creationTimestamp" for c in columns):
        columns.append(
            PrinterColumn(
                name="Age",
                type="date",
                json_path=".metadata.creationTimestamp",
                description=_DEFAULT_COLUMN_DESCRIPTION,
            )
        )
    return tuple(columns)


def resource_type_from_crd(crd: JsonObject) -> ResourceType:
    """The served kind a (validated) CRD defines."""
    spec = crd["spec"]
    names = spec["names"]
    served = [v for v in spec["versions"] if v.get("served")]
    served_names = sorted((str(v["name"]) for v in served), key=version_priority)
    storage = next(v for v in spec["versions"] if v.get("storage"))
    preferred = next(v for v in served if v["name"] == served_names[0])
    return ResourceType(
        group=str(spec["group"]),
        versions=tuple(served_names),
        kind=str(names["kind"]),
        plural=str(names["plural"]),
        singular=str(names.get("singular") or str(names["kind"]).lower()),
        namespaced=spec["scope"] == "Namespaced",
        short_names=tuple(names.get("shortNames") or ()),
        categories=tuple(names.get("categories") or ()),
        status_subresource=any("status" in (v.get("subresources") or {}) for v in served),
        custom=True,
        printer_columns=_columns(preferred),
        storage_version=str(storage["name"]),
    )


def crd_status(crd: JsonObject, *, now: str) -> JsonObject:
    """The status the real server reports once a CRD is accepted: names, Established."""
    spec = crd["spec"]
    names = dict(spec["names"])
    names.setdefault("singular", str(names["kind"]).lower())
    names.setdefault("listKind", f"{names['kind']}List")
    storage = next(v["name"] for v in spec["versions"] if v.get("storage"))
    previous = crd.get("status") or {}
    stored = list(previous.get("storedVersions") or [])
    if storage not in stored:
        stored.append(storage)
    condition = {"status": "True", "lastTransitionTime": now}
    return {
        "acceptedNames": names,
        "conditions": [
            {
                **condition,
                "type": "NamesAccepted",
                "reason": "NoConflicts",
                "message": "no conflicts found",
            },
            {
                **condition,
                "type": "Established",
                "reason": "InitialNamesAccepted",
                "message": "the initial names have been accepted",
            },
        ],
        "storedVersions": stored,
    }


def crd_manifest(
    *,
    group: str,
    kind: str,
    plural: str,
    versions: tuple[str, ...],
    storage_version: str | None = None,
    namespaced: bool = True,
    short_names: tuple[str, ...] = (),
    categories: tuple[str, ...] = (),
    status_subresource: bool = False,
    printer_columns: tuple[JsonObject, ...] = (),
) -> JsonObject:
    """A ``CustomResourceDefinition`` document with open (preserve-unknown) schemas."""
    storage = storage_version or versions[0]
    names: JsonObject = {
        "kind": kind,
        "listKind": f"{kind}List",
        "plural": plural,
        "singular": kind.lower(),
    }
    if short_names:
        names["shortNames"] = list(short_names)
    if categories:
        names["categories"] = list(categories)
    version_docs = []
    for version in versions:
        doc: JsonObject = {
            "name": version,
            "served": True,
            "storage": version == storage,
            "schema": {
                "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
            },
        }
        if status_subresource:
            doc["subresources"] = {"status": {}}
        if printer_columns:
            doc["additionalPrinterColumns"] = [dict(c) for c in printer_columns]
        version_docs.append(doc)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "names": names,
            "scope": "Namespaced" if namespaced else "Cluster",
            "versions": version_docs,
        },
    }
