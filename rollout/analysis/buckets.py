"""Latency SLOs against a histogram's bucket edges: where a threshold lands, and what it costs.

Istio's request-duration histogram has fixed edges (``ISTIO_BUCKETS_MS``). A count of
requests slower than an SLO is exact only on an edge (``_count - _bucket{le=...}``); a
quantile read between edges (``histogram_quantile``) is linearly interpolated inside its
bucket, so it can be off by up to the bucket's width. This module says which edge an SLO
snaps to and how wide the bucket around a quantile threshold is, for ``rollout validate``
and for the quantile check's evidence. Pure code.
"""

from __future__ import annotations

import math

from rollout.spec.policy import RenderedPolicy

__all__ = ["ISTIO_BUCKETS_MS", "bucket_around", "latency_notes", "snap_down"]

ISTIO_BUCKETS_MS = (1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0)
"""Istio's default ``istio_request_duration_milliseconds`` edges (then ``+Inf``)."""


def snap_down(ms: float) -> float | None:
    """The largest edge at or below ``ms`` (an SLO snapped to an edge), or None."""
    below = [edge for edge in ISTIO_BUCKETS_MS if edge <= ms]
    return below[-1] if below else None


def bucket_around(ms: float) -> tuple[float, float] | None:
    """``(lower, upper]`` of the bucket that holds ``ms`` strictly inside, or None on an edge."""
    if ms in ISTIO_BUCKETS_MS:
        return None
    lower = 0.0
    for edge in ISTIO_BUCKETS_MS:
        if ms < edge:
            return lower, edge
        lower = edge
    return lower, math.inf


def _number(value: object) -> float | None:
    try:
        return float(str(value))
    except ValueError:
        return None


def latency_notes(policy: RenderedPolicy) -> list[str]:
    """What ``rollout validate`` should say about a latency policy's thresholds."""
    if policy.type != "latency":
        return []
    notes = []
    max_ms = policy.thresholds.get("max_ms")
    if max_ms is not None and "quantile" in policy.templates:
        bucket = bucket_around(max_ms)
        edge = snap_down(max_ms)
        if bucket is not None:
            lower, upper = bucket
            notes.append(
                f"maxMs {max_ms:g} lies inside the histogram bucket ({lower:g}, {upper:g}]: "
                f"the quantile is interpolated there and can be off by up to "
                f"{upper - lower:g} ms; the slow-request test snaps this SLO to the edge "
                f"{edge:g} ms (istio-slow-request-ratio with bucketMs {edge:g})"
            )
    bucket_ms = _number(policy.params.get("bucketMs"))
    if "slow" in policy.templates and bucket_ms is not None and bucket_ms not in ISTIO_BUCKETS_MS:
        edge = snap_down(bucket_ms)
        notes.append(
            f"bucketMs {bucket_ms:g} is not one of Istio's default bucket edges; unless the "
            f"histogram has it, the query matches nothing (the edge below is {edge:g} ms)"
        )
    return notes
