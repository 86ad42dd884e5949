"""The scale benchmark's readings: histogram quantiles between two scrapes, tick lag from
the request log, a process's CPU and the cores it is shared over, and the exporter's Istio
series that the shipped policies query."""

from __future__ import annotations

import math
import os
import time

import pytest

from bench import scale_probe
from bench.scale_world import SyntheticExporter
from kubelite.server_state import RequestRecord


def _read(name: str) -> RequestRecord:
    return RequestRecord(method="GET", path="", verb="get", resource="rollouts", name=name)


def test_histogram_quantiles_count_only_what_was_observed_between_the_readings() -> None:
    before = {0.1: 10.0, 1.0: 10.0, math.inf: 10.0}
    after = {0.1: 10.0 + 90.0, 1.0: 10.0 + 99.0, math.inf: 10.0 + 100.0}
    p50, p99 = scale_probe.histogram_quantiles(before, after, (0.5, 0.99))
    assert p50 == pytest.approx(0.1 * 50 / 90)
    assert p99 == pytest.approx(1.0)


def test_histogram_quantiles_of_nothing_observed_are_nan() -> None:
    buckets = {0.1: 5.0, math.inf: 5.0}
    assert all(math.isnan(q) for q in scale_probe.histogram_quantiles(buckets, buckets, (0.5,)))


def test_share_over_a_bucket_edge_is_exact_between_the_readings() -> None:
    before = {0.5: 10.0, 1.0: 10.0, math.inf: 10.0}
    after = {0.5: 10.0 + 150.0, 1.0: 10.0 + 196.0, math.inf: 10.0 + 200.0}
    assert scale_probe.share_over(before, after, 1.0) == pytest.approx(0.02)
    assert scale_probe.share_over(before, after, 0.5) == pytest.approx(0.25)


def test_share_over_refuses_a_bound_that_is_no_bucket_edge() -> None:
    buckets = {0.5: 1.0, 1.0: 2.0, math.inf: 3.0}
    with pytest.raises(ValueError, match=r"0\.75 is not a bucket edge"):
        scale_probe.share_over({}, buckets, 0.75)
    assert math.isnan(scale_probe.share_over(buckets, buckets, 1.0))


def test_tick_lag_is_the_gap_between_reconcile_starts_beyond_the_interval() -> None:
    # two reads 0.2 s apart are one reconcile; the next starts 5.5 s later: 0.5 s late
    records = [(0.0, _read("a")), (0.2, _read("a")), (5.5, _read("a")), (10.4, _read("a"))]
    assert scale_probe.lags_from_reads(records, 5.0) == pytest.approx([0.5, 0.0])


def test_quantile_is_an_observed_value() -> None:
    assert scale_probe.quantile([3.0, 1.0, 2.0, 4.0], 0.5) == 2.0
    assert scale_probe.quantile([3.0, 1.0, 2.0, 4.0], 0.99) == 4.0
    assert math.isnan(scale_probe.quantile([], 0.5))


def test_the_exporter_serves_istio_series_per_workload_and_pod() -> None:
    exporter = SyntheticExporter(["svc-00000-v1"])
    try:
        text = exporter.render()
    finally:
        exporter.close()
    assert 'destination_workload="svc-00000-v1"' in text
    assert 'pod="svc-00000-v1-0"' in text
    assert "istio_request_duration_milliseconds_bucket{" in text and 'le="250"' in text


def test_reconciles_are_read_from_the_reconcile_duration_count() -> None:
    text = (
        "# TYPE rollout_reconcile_duration_seconds histogram\n"
        'rollout_reconcile_duration_seconds_bucket{le="0.005"} 3.0\n'
        "rollout_reconcile_duration_seconds_count 1234.0\n"
        "rollout_reconcile_duration_seconds_sum 5.5\n"
    )
    assert scale_probe.reconciles(text) == 1234.0
    assert scale_probe.reconciles("") == 0.0
    labelled = 'rollout_reconcile_duration_seconds_count{rollout="a"} 2.0\n' * 2
    assert scale_probe.reconciles(labelled) == 4.0


def test_skipped_beats_are_read_only_from_a_controller_that_counts_them() -> None:
    text = "# TYPE rollout_ticks_skipped_total counter\nrollout_ticks_skipped_total 17.0\n"
    assert scale_probe.skipped_ticks(text) == 17.0
    assert scale_probe.skipped_ticks("rollout_ticks_skipped_created 1.7e9\n") is None
    assert scale_probe.skipped_ticks("") is None


def test_cpu_seconds_count_the_work_a_process_has_done() -> None:
    before = scale_probe.cpu_seconds(os.getpid())
    started = time.process_time()
    while time.process_time() - started < 0.3:
        sum(range(1000))
    # /proc counts in ticks of 10 ms
    assert scale_probe.cpu_seconds(os.getpid()) - before >= 0.25


def test_usable_cores_follow_the_process_affinity() -> None:
    allowed = os.sched_getaffinity(0)
    assert scale_probe.usable_cores() == len(allowed)
    os.sched_setaffinity(0, {min(allowed)})
    try:
        assert scale_probe.usable_cores() == 1
    finally:
        os.sched_setaffinity(0, allowed)
