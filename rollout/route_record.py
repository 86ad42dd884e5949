"""The rollout's record on its route objects: the part of the state that must outlive it.

The Rollout's status is the full state, but the Rollout can go while its traffic stays:
Argo CD's prune-and-recreate, ``kubectl replace --force``, a restore from a backup taken
before the rollout, a CRD reinstall, an API server that lost its state. So the router
writes this small record as an annotation on each managed VirtualService and HTTPRoute, in the same
JSON patch that moves the weights (guarded by its ``test`` ops): the record and the
weights it describes change together or not at all.

It holds what a recreated Rollout needs to resume: the stable and canary versions, the
weight and the step at which that weight was set, the revision, and the failed revision
that must not be retried. Analysis counters are not kept: a resumed rollout analyses again.

The record is read back by :mod:`rollout.adoption`, which trusts it only where the live
routes agree with it; anyone who can edit the VirtualService can edit the annotation, so
it can never give a version more traffic than the routes already give it. Pure data and
JSON: no I/O.
"""

from __future__ import annotations

import hashlib
import json
import re

from pydantic import Field, ValidationError

from rollout import API_GROUP
from rollout.state import FailedRevision, RolloutState, StatusModel

__all__ = [
    "ANNOTATION_PREFIX",
    "MAX_RECORD_CHARS",
    "RouteRecord",
    "annotation_key",
    "decode",
    "encode",
    "record_of",
]

ANNOTATION_PREFIX = f"state.{API_GROUP}"
MAX_RECORD_CHARS = 4096
"""A longer annotation is not a record we wrote: it is ignored, never parsed."""

_NAME_LIMIT = 63
_REASON_LIMIT = 300
_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.-]")


class RouteRecord(StatusModel):
    """One rollout's record; ``rollout`` (``namespace/name``) says whose it is."""

    rollout: str
    stable: str
    canary: str | None = None
    weight: int = Field(0, ge=0, le=100)
    step: int = Field(0, ge=0)
    revision: str = ""
    spec_hash: str = ""
    failed: FailedRevision | None = None

    def facts(self) -> tuple[object, ...]:
        """What must reach the VirtualService when it changes, even if no weight moves."""
        failed = (self.failed.version, self.failed.spec_hash) if self.failed else None
        return (self.stable, self.canary, self.weight, failed)


def annotation_key(namespace: str, name: str) -> str:
    """``state.canary.rollout.dev/<namespace>.<name>``; a long name is shortened with a
    hash of the whole, as an annotation name has at most 63 characters."""
    full = f"{namespace}.{name}"
    if len(full) <= _NAME_LIMIT:
        return f"{ANNOTATION_PREFIX}/{full}"
    digest = hashlib.sha256(full.encode()).hexdigest()[:10]
    head = _NAME_CHARS.sub("-", full[: _NAME_LIMIT - len(digest) - 1]).rstrip("-._")
    return f"{ANNOTATION_PREFIX}/{head}-{digest}"


def record_of(key: str, state: RolloutState) -> RouteRecord | None:
    """The record of a state; None before the state knows its stable version."""
    if state.stable_version is None:
        return None
    failed = state.failed
    return RouteRecord(
        rollout=key,
        stable=state.stable_version,
        canary=state.canary_version,
        weight=state.canary_weight if state.canary_version else 0,
        step=state.step_index if state.canary_version else 0,
        revision=state.revision,
        spec_hash=state.spec_hash,
        failed=failed.model_copy(update={"reason": failed.reason[:_REASON_LIMIT]})
        if failed
        else None,
    )


def encode(record: RouteRecord) -> str:
    """Compact JSON, stable key order, so an unchanged record is an unchanged annotation."""
    body = record.model_dump(mode="json", by_alias=True, exclude_none=True)
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


def decode(text: str | None, key: str) -> RouteRecord | None:
    """The record in ``text`` when it is well formed and belongs to ``key``; else None."""
    if not text or len(text) > MAX_RECORD_CHARS:
        return None
    try:
        record = RouteRecord.model_validate_json(text)
    except ValidationError:
        return None
    return record if record.rollout == key else None
