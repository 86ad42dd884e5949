"""Latency SLOs against Istio's bucket edges: snapping, the bucket around a quantile, notes.

Inputs are thresholds in milliseconds and shipped policies with overrides; outputs are
edges, buckets and the notes ``rollout validate`` prints.
"""

from __future__ import annotations

import math

from rollout.analysis import buckets
from rollout.source.files import shipped_policies
from rollout.spec.policy import resolve

SHIPPED = {policy.name: policy for policy in shipped_policies()}


def test_an_slo_snaps_down_to_the_edge_below() -> None:
    assert buckets.snap_down(300) == 250
    assert buckets.snap_down(250) == 250
    assert buckets.snap_down(0.5) is None


def test_the_bucket_around_a_threshold() -> None:
    assert buckets.bucket_around(300) == (250, 500)
    assert buckets.bucket_around(250) is None
    assert buckets.bucket_around(9000) == (5000, math.inf)


def test_a_p99_threshold_inside_a_bucket_gets_a_note_with_its_snap() -> None:
    (note,) = buckets.latency_notes(resolve(SHIPPED["istio-latency-p99"], {}))
    assert "maxMs 300 lies inside the histogram bucket (250, 500]" in note
    assert "snaps this SLO to the edge 250 ms" in note
    assert buckets.latency_notes(resolve(SHIPPED["istio-latency-p99"], {"maxMs": 250})) == []


def test_a_slow_request_bucket_off_the_edges_gets_a_note() -> None:
    assert buckets.latency_notes(resolve(SHIPPED["istio-slow-request-ratio"], {})) == []
    (note,) = buckets.latency_notes(
        resolve(SHIPPED["istio-slow-request-ratio"], {"bucketMs": "300"})
    )
    assert "bucketMs 300 is not one of Istio's default bucket edges" in note
