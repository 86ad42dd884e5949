"""The Rollout custom resource as data: what is read from it and what is written to it.

Pure (no I/O), so :mod:`rollout.kube.store` stays a thin layer of API calls. Here live:

- the annotations the project owns: the Git commit and path a mirrored spec came from,
  and the command a person gave (``rollout promote|abort|retry`` write it; the coordinator
  reads it on its next tick and records it in the status);
- :func:`stored_from_object`, a Rollout object as the store hands it out
  (:class:`rollout.ports.Stored`);
- the guarded JSON patch that mirrors a spec from Git onto an existing resource, touching
  spec, the labels and annotations Git gives, and the source annotations, never status or
  annotations set by others (a pending command survives a mirror).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any, Literal, get_args

from pydantic import ValidationError

from rollout import API_GROUP, GROUP_VERSION
from rollout.kube.status_times import status_from_wire
from rollout.ports import PENDING_PHASE, RECONCILE_FAILED_PHASE, Stored, shown_phase
from rollout.state import Command, Phase, RolloutState

__all__ = [
    "COMMAND_ANNOTATION",
    "COMMIT_ANNOTATION",
    "KIND",
    "PENDING_PHASE",
    "PLURAL",
    "RECONCILE_FAILED_PHASE",
    "SHOWN_PHASES",
    "SOURCE_PATH_ANNOTATION",
    "CommandAction",
    "encode_command",
    "mirror_object",
    "mirror_patch",
    "read_command",
    "shown_phase",
    "stored_from_object",
]

log = logging.getLogger("rollout.kube.store")

KIND = "Rollout"
PLURAL = "rollouts"
COMMIT_ANNOTATION = f"{API_GROUP}/commit"
SOURCE_PATH_ANNOTATION = f"{API_GROUP}/source-path"
COMMAND_ANNOTATION = f"{API_GROUP}/command"

SHOWN_PHASES: tuple[str, ...] = (
    PENDING_PHASE,
    RECONCILE_FAILED_PHASE,
    *(phase.value for phase in Phase),
)

CommandAction = Literal["promote", "promote-full", "abort", "retry"]
COMMAND_ACTIONS: tuple[str, ...] = get_args(CommandAction)

JsonObject = dict[str, Any]


def stored_from_object(obj: JsonObject) -> Stored:
    """The :class:`~rollout.ports.Stored` view of a Rollout object: its annotations decoded
    (commit, source path, command); an unreadable status reads as empty."""
    metadata = obj.get("metadata") or {}
    namespace = str(metadata.get("namespace") or "default")
    name = str(metadata.get("name") or "")
    try:
        state = RolloutState.from_status(status_from_wire(obj.get("status") or None))
    except ValidationError as error:
        log.warning("rollout %s/%s: status unreadable, starting afresh: %s", namespace, name, error)
        state = RolloutState()
    spec = obj.get("spec")
    annotations = {str(k): str(v) for k, v in (metadata.get("annotations") or {}).items()}
    return Stored(
        namespace=namespace,
        name=name,
        uid=str(metadata.get("uid") or ""),
        generation=int(metadata.get("generation") or 0),
        resource_version=str(metadata.get("resourceVersion") or ""),
        spec=spec if isinstance(spec, dict) else {},
        state=state,
        annotations=annotations,
        labels=dict(metadata.get("labels") or {}),
        observed=bool((obj.get("status") or {}).get("phase")),
        command=read_command(f"{namespace}/{name}", annotations),
        commit=annotations.get(COMMIT_ANNOTATION),
        source_path=annotations.get(SOURCE_PATH_ANNOTATION),
    )


def encode_command(command: Command) -> str:
    """The annotation value for a command: ``{"id", "action", "by", "at"}``."""
    return json.dumps(
        {"id": command.id, "action": command.action, "by": command.by, "at": command.at},
        separators=(",", ":"),
    )


def read_command(key: str, annotations: Mapping[str, str]) -> Command | None:
    """The command in the resource's annotation; None when absent or unreadable."""
    raw = annotations.get(COMMAND_ANNOTATION)
    if not raw:
        return None
    try:
        decoded = json.loads(raw)
        if not isinstance(decoded, dict):
            raise ValueError("not a JSON object")
        return Command.model_validate(
            {key: decoded[key] for key in ("id", "action", "by", "at") if key in decoded}
        )
    except (ValueError, ValidationError) as error:
        message = " ".join(str(error).split())
        log.warning("rollout %s: ignoring unreadable command %r: %s", key, raw, message)
        return None


def _desired_metadata(
    body: JsonObject, *, commit: str, path: str
) -> tuple[dict[str, str], dict[str, str]]:
    metadata = body.get("metadata") or {}
    labels = {str(k): str(v) for k, v in (metadata.get("labels") or {}).items()}
    annotations = {str(k): str(v) for k, v in (metadata.get("annotations") or {}).items()}
    annotations.pop(COMMAND_ANNOTATION, None)
    annotations[COMMIT_ANNOTATION] = commit
    annotations[SOURCE_PATH_ANNOTATION] = path
    return labels, annotations


def mirror_object(body: JsonObject, *, commit: str, path: str) -> JsonObject:
    """The Rollout object to create for a spec read from Git (no status)."""
    metadata = body.get("metadata") or {}
    labels, annotations = _desired_metadata(body, commit=commit, path=path)
    created: JsonObject = {
        "apiVersion": GROUP_VERSION,
        "kind": KIND,
        "metadata": {
            "name": metadata.get("name"),
            "namespace": metadata.get("namespace") or "default",
            "annotations": annotations,
        },
        "spec": body.get("spec") or {},
    }
    if labels:
        created["metadata"]["labels"] = labels
    return created


def _escape(key: str) -> str:
    """A JSON pointer token for a map key (``/`` and ``~`` escaped, RFC 6901)."""
    return key.replace("~", "~0").replace("/", "~1")


def _map_ops(
    existing: Mapping[str, str] | None, desired: Mapping[str, str], field: str
) -> list[JsonObject]:
    if not desired:
        return []
    if existing is None:
        return [{"op": "add", "path": f"/metadata/{field}", "value": dict(desired)}]
    return [
        {"op": "add", "path": f"/metadata/{field}/{_escape(key)}", "value": value}
        for key, value in desired.items()
        if existing.get(key) != value
    ]


def mirror_patch(
    existing: JsonObject, body: JsonObject, *, commit: str, path: str
) -> list[JsonObject]:
    """The guarded JSON patch that brings ``existing`` to the Git ``body``; ``[]`` when the
    spec, the Git labels and annotations and the source path are already in place.

    A changed commit alone writes nothing: the annotation names the commit the spec was
    last written from, so an unrelated push does not rewrite every Rollout.
    """
    metadata = existing.get("metadata") or {}
    labels, annotations = _desired_metadata(body, commit=commit, path=path)
    current_annotations = metadata.get("annotations")
    spec = body.get("spec") or {}
    compared = {k: v for k, v in annotations.items() if k != COMMIT_ANNOTATION}
    unchanged = (
        existing.get("spec") == spec
        and all((metadata.get("labels") or {}).get(k) == v for k, v in labels.items())
        and all((current_annotations or {}).get(k) == v for k, v in compared.items())
    )
    if unchanged:
        return []
    ops: list[JsonObject] = [
        {
            "op": "test",
            "path": "/metadata/resourceVersion",
            "value": metadata.get("resourceVersion"),
        }
    ]
    if "spec" in existing:
        ops.append({"op": "test", "path": "/spec", "value": existing["spec"]})
        ops.append({"op": "replace", "path": "/spec", "value": spec})
    else:
        ops.append({"op": "add", "path": "/spec", "value": spec})
    ops.extend(_map_ops(metadata.get("labels"), labels, "labels"))
    ops.extend(_map_ops(current_annotations, annotations, "annotations"))
    return ops
