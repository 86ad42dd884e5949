"""The view under ``reporter="source"``: series per calling pod, each mixing every pod of the
version it called, both versions in one scrape."""

from __future__ import annotations

import numpy as np

from bench.callers import CallerView
from bench.traffic import (
    ATTEMPT_ERRORS,
    ERRORS,
    REQUESTS,
    SLOW,
    Latency,
    PrometheusView,
    Service,
    Version,
)

LATENCY = Latency(median_ms=40.0, p99_ms=100.0)
HEALTHY = Version(error_probability=0.001, latency=LATENCY)
ONE_BAD_POD = Version(error_probability=0.001, latency=LATENCY, first_pod_errors=0.2)


def _views(callers: int) -> tuple[PrometheusView, CallerView]:
    service = Service(
        np.random.default_rng(5), rate=200.0, stable=HEALTHY, canary=ONE_BAD_POD, horizon=120
    )
    service.advance(50, 120)
    return PrometheusView(np.random.default_rng(6), service), CallerView(
        np.random.default_rng(6), service, callers=callers
    )


def test_every_caller_sees_the_errors_of_the_one_bad_canary_pod() -> None:
    by_pod, by_caller = _views(callers=3)
    pods = by_pod.series("canary", ERRORS, 119)
    callers = by_caller.series("canary", ERRORS, 119)
    assert sorted(pods) == ["pod=canary-0", "pod=canary-1"]
    assert sorted(callers) == ["pod=caller-0", "pod=caller-1", "pod=caller-2"]
    # per destination pod the errors sit on the bad pod; per caller they are spread evenly
    assert pods["pod=canary-0"][0] > 20 * max(pods["pod=canary-1"][0], 1.0)
    shares = [value for value, _ in callers.values()]
    assert min(shares) > 0.5 * max(shares) > 0


def test_a_callers_scrape_holds_both_versions_at_one_time() -> None:
    _, by_caller = _views(callers=4)
    canary = by_caller.series("canary", REQUESTS, 100)
    stable = by_caller.series("stable", REQUESTS, 100)
    assert {pod: time for pod, (_, time) in canary.items()} == {
        pod: time for pod, (_, time) in stable.items()
    }


def test_the_callers_windows_add_up_to_the_versions_traffic() -> None:
    by_pod, by_caller = _views(callers=4)
    pods = by_pod.window("canary", 119, 60, destination=False)
    callers = by_caller.window("canary", 119, 60, destination=False)
    assert pods is not None and callers is not None
    # both cover about the last minute of the same counters, cut at different scrapes
    assert abs(callers.total - pods.total) < 0.3 * pods.total


def test_attempts_stay_per_destination_pod_and_the_look_back_is_per_caller() -> None:
    _, by_caller = _views(callers=3)
    attempts = by_caller.series("canary", ATTEMPT_ERRORS, 119)
    assert sorted(attempts) == ["pod=canary-0", "pod=canary-1"]
    history = by_caller.history(ERRORS, 0)
    assert sorted(history) == ["pod=caller-0", "pod=caller-1", "pod=caller-2"]
    # an hour in one-minute steps (the first before a late phase has no sample); the callers
    # share stable's errors, each about a third, at their own last scrapes
    points = history["pod=caller-0"]
    assert len(points) in (60, 61) and points[-1][0] == 0.0
    total = by_caller.service.past[-1, :, ERRORS].sum()
    last = [history[caller][-1][1] for caller in sorted(history)]
    assert sum(last) <= total + 1e-9
    assert all(value > 0.2 * total for value in last)


def test_the_per_pod_queries_read_every_field_per_destination_pod() -> None:
    by_pod, by_caller = _views(callers=3)
    # what the policies' podErrors/podSlow/podTotal read: the canary's own pods, even for
    # the caller-seen fields, the same numbers the per-pod view gives
    for field in (ERRORS, REQUESTS, SLOW):
        seen = by_caller.pod_series("canary", field, 119)
        assert sorted(seen) == ["pod=canary-0", "pod=canary-1"]
        assert seen == by_pod.series("canary", field, 119)
    assert sorted(by_caller.pod_history(ERRORS, 0)) == [f"pod=stable-{n}" for n in range(6)]
    assert sorted(by_caller.series("canary", ERRORS, 119)) == [f"pod=caller-{n}" for n in range(3)]
