"""Condition times as the Kubernetes API carries them.

Kubernetes conditions carry ``lastTransitionTime`` as RFC 3339 (``metav1.Time``: whole
seconds, UTC), which ``kubectl describe``, Argo CD and kstatus read. The state model keeps
Unix seconds, because the decision core does no calendar or clock work; this adapter
converts at the API's edge, both ways. Records written as plain seconds by older releases
still read.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

__all__ = ["status_from_wire", "status_to_wire"]

TIME_FIELD = "lastTransitionTime"


def status_to_wire(status: dict[str, Any]) -> dict[str, Any]:
    """``status`` with each condition's time as RFC 3339 whole seconds."""
    conditions = status.get("conditions")
    if not isinstance(conditions, list):
        return status
    return {**status, "conditions": [_with_time(c, _rfc3339) for c in conditions]}


def status_from_wire(status: dict[str, Any] | None) -> dict[str, Any] | None:
    """``status`` as read, each condition's time back in Unix seconds (an unreadable time
    is left for the state model to refuse, with the rest of the record)."""
    if not status or not isinstance(status.get("conditions"), list):
        return status
    return {**status, "conditions": [_with_time(c, _seconds) for c in status["conditions"]]}


def _with_time(condition: Any, convert: Callable[[Any], Any]) -> Any:
    if not isinstance(condition, dict) or TIME_FIELD not in condition:
        return condition
    return {**condition, TIME_FIELD: convert(condition[TIME_FIELD])}


def _rfc3339(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(math.floor(value), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value


def _seconds(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return value
    return value
