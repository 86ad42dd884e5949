"""The simulated service draws traffic ahead at the current weight; a weight change redraws."""

from __future__ import annotations

import numpy as np

from bench.traffic import REQUESTS, Latency, Service, Version

VERSION = Version(error_probability=0.01, latency=Latency(median_ms=40.0, p99_ms=100.0))


def _service(seed: int = 1) -> Service:
    return Service(
        np.random.default_rng(seed), rate=100.0, stable=VERSION, canary=VERSION, horizon=300
    )


def test_a_weight_change_throws_away_what_was_drawn_at_the_old_weight() -> None:
    service = _service()
    for _ in range(6):
        service.advance(0, 5)
    for _ in range(6):
        service.advance(100, 5)
    canary = service.cumulative["canary"][:, :, REQUESTS].sum(axis=1)
    stable = service.cumulative["stable"][:, :, REQUESTS].sum(axis=1)
    assert canary[30] == 0 and canary[60] > 2500
    assert stable[30] > 2500 and stable[60] == stable[30]


def test_drawing_ahead_leaves_the_counters_of_one_weight_as_drawn_second_by_second() -> None:
    ahead, step = _service(7), _service(7)
    ahead.advance(10, 60)
    for _ in range(60):
        step.advance(10, 1)
    assert np.array_equal(ahead.cumulative["canary"][:61], step.cumulative["canary"][:61])
    assert ahead.now == step.now == 60


def test_a_version_can_have_one_pod_worse_than_the_others() -> None:
    bad_node = Version(error_probability=0.001, latency=VERSION.latency, first_pod_errors=0.05)
    service = Service(
        np.random.default_rng(3), rate=100.0, stable=VERSION, canary=bad_node, horizon=60
    )
    assert np.all(service.error_probability["canary"][:, 0] == 0.05)
    assert np.all(service.error_probability["canary"][:, 1:] == 0.001)
