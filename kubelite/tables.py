"""Server-side printing: the ``meta.k8s.io/v1`` ``Table`` that ``kubectl get`` asks for.

kubectl sends ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io,...`` for its default
output; the real server answers a Table whose columns come from the CRD's
``additionalPrinterColumns`` (custom kinds) or its built-in printers. This module renders
the same: a Name column, the kind's columns (simple JSONPath like ``.status.phase`` or
``.spec.hosts``; non-scalar values printed as JSON, as kubectl's JSONPath printer does),
``date`` columns shown as ages ("5m10s"), and each row's object as ``PartialObjectMetadata``
unless ``includeObject=Object`` or ``None`` was asked for. Pure functions, no I/O.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from kubelite.resources import PrinterColumn, ResourceType

__all__ = ["human_duration", "table_for", "wants_table"]

JsonObject = dict[str, Any]

_NAME_COLUMN = {
    "name": "Name",
    "type": "string",
    "format": "name",
    "description": "Name must be unique within a namespace. Is required when creating resources, "
    "although some resources may allow a client to request the generation of an appropriate "
    "name automatically. Name is primarily intended for creation idempotence and configuration "
    "definition. Cannot be updated.",
    "priority": 0,
}
_AGE = PrinterColumn("Age", "date", ".metadata.creationTimestamp")
_BUILTIN_COLUMNS: dict[tuple[str, str], tuple[PrinterColumn, ...]] = {
    ("apps", "deployments"): (
        PrinterColumn("Ready", "string", "ready"),
        PrinterColumn("Up-to-date", "integer", ".status.updatedReplicas"),
        PrinterColumn("Available", "integer", ".status.availableReplicas"),
        _AGE,
    ),
    ("", "namespaces"): (PrinterColumn("Status", "string", ".status.phase"), _AGE),
    ("", "secrets"): (PrinterColumn("Type", "string", ".type"), _AGE),
    ("coordination.k8s.io", "leases"): (
        PrinterColumn("Holder", "string", ".spec.holderIdentity"),
        _AGE,
    ),
}


def wants_table(accept: str) -> bool:
    """Whether the Accept header asks for a ``meta.k8s.io`` Table first."""
    first = accept.split(",", 1)[0].replace(" ", "")
    return "as=Table" in first and "g=meta.k8s.io" in first


def human_duration(seconds: float) -> str:
    """Kubernetes' ``duration.HumanDuration``: 45s, 3m10s, 2h5m, 3d4h, 2y..."""
    seconds = max(0, int(seconds))
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 120:
        return f"{seconds}s"
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 192:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if days < 365 * 2:
        return f"{days}d"
    if days < 365 * 8:
        return f"{days // 365}y{days % 365}d" if days % 365 else f"{days // 365}y"
    return f"{days // 365}y"


def _lookup(obj: JsonObject, json_path: str) -> Any:
    value: Any = obj
    for part in json_path.strip("{}").lstrip(".").split("."):
        if not part:
            continue
        if isinstance(value, dict):
            value = value.get(part)
        else:
            return None
    return value


def _cell(obj: JsonObject, column: PrinterColumn, now: datetime) -> Any:
    if column.json_path == "ready":
        status = obj.get("status") or {}
        return f"{status.get('readyReplicas', 0)}/{(obj.get('spec') or {}).get('replicas', 1)}"
    value = _lookup(obj, column.json_path)
    if value is None:
        return 0 if column.type == "integer" and column.json_path.startswith(".status") else None
    if column.type == "date" and isinstance(value, str):
        try:
            then = datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            return value
        return human_duration((now - then).total_seconds())
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return value


def _row_object(obj: JsonObject, include_object: str) -> JsonObject | None:
    if include_object == "None":
        return None
    if include_object == "Object":
        return obj
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata", {}),
    }


def table_for(
    resource: ResourceType,
    objects: list[JsonObject],
    *,
    resource_version: str,
    include_object: str = "Metadata",
    with_headers: bool = True,
) -> JsonObject:
    """A ``Table`` listing ``objects`` with the kind's printer columns."""
    columns = resource.printer_columns or _BUILTIN_COLUMNS.get(resource.key, (_AGE,))
    now = datetime.now(UTC)
    rows = []
    for obj in objects:
        row: JsonObject = {
            "cells": [obj.get("metadata", {}).get("name")]
            + [_cell(obj, column, now) for column in columns],
        }
        row_object = _row_object(obj, include_object)
        if row_object is not None:
            row["object"] = row_object
        rows.append(row)
    table: JsonObject = {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": [],
        "rows": rows,
    }
    if with_headers:
        table["columnDefinitions"] = [_NAME_COLUMN] + [
            {
                "name": column.name,
                "type": column.type,
                "format": column.format,
                "description": column.description,
                "priority": column.priority,
            }
            for column in columns
        ]
    return table
