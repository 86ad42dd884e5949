"""One version's part of the ``rollout demo --json`` document, from what the monitor,
the routing probe and the managed workloads recorded (``DemoResult.summary`` holds it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rollout_local.demo.monitor import VersionRecord
from rollout_local.demo.routing_probe import RoutingStep

__all__ = ["version_summary", "versions"]


def version_summary(
    record: VersionRecord,
    expected: dict[str, str],
    routing: list[RoutingStep] | None,
    replicas: list[list[float]] | None = None,
) -> dict[str, Any]:
    """One version's entry in ``versions`` of the ``--json`` document."""
    took = record.seconds_to_decision
    extra: dict[str, Any] = (
        {"routing_steps": [step.summary() for step in routing]} if routing else {}
    )
    if replicas is not None:
        extra["replicas"] = replicas
    return extra | {
        "version": record.version,
        "behaviour": record.description,
        "outcome": record.outcome,
        "expected": expected.get(record.version),
        "seconds_to_decision": round(took, 1) if took is not None else None,
        "reason": record.reason,
        "commit": record.commit,
        "steps": [
            {
                "weight": step.weight,
                "measured_share": (
                    round(step.measured_share, 1) if step.measured_share is not None else None
                ),
                "canary_requests": step.canary_requests,
                "requests": step.total_requests,
                "seconds": round((step.ended_at or step.started_at) - step.started_at, 1),
            }
            for step in record.steps
        ],
        "verdicts": len(record.verdicts),
    }


def versions(
    records: Sequence[VersionRecord],
    expected: dict[str, str],
    routing: Mapping[str, list[RoutingStep]],
    replicas: Mapping[str, list[list[float]]],
) -> list[dict[str, Any]]:
    """The ``versions`` of the ``--json`` document, one entry per pushed version."""
    return [
        version_summary(record, expected, routing.get(record.version), replicas.get(record.version))
        for record in records
    ]
