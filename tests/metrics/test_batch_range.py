"""Stable's look-back for rollouts that start together, against a real Prometheus: one
range query per policy query, and each rollout's history what its own queries give.

Inputs: the test exporter's counters for three services' stable pods (one with errors on
one pod), scraped every second; rollouts whose first ticks come at once from several
threads. Outputs: each rollout's history compared with the per-rollout look-back over the
same range, and the range queries sent.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from rollout.metrics import batch_range, errors
from rollout.metrics.batch_range import BatchedRanges
from rollout.metrics.look_back import LookBack, enrol_look_back, stable_history
from rollout.metrics.observe import template_context
from rollout.metrics.prometheus import PrometheusProvider, PrometheusSettings
from rollout.source.files import shipped_policies
from rollout.spec.policy import resolve
from tests.metrics.exporter import IstioExporter
from tests.metrics.shop_rollouts import shop_rollout
from tests.metrics.stack import wait_for_scrape

pytestmark = pytest.mark.slow

POLICIES = tuple(resolve(policy, {}) for policy in shipped_policies())
SERVICES = ("ranges-a", "ranges-b", "ranges-c")
STEP = 1.0


class CountingProvider(PrometheusProvider):
    """The real provider, for the same Prometheus, counting its range queries."""

    def __init__(self, provider: PrometheusProvider) -> None:
        super().__init__(PrometheusSettings(url=provider.url))
        self.ranges = 0

    def query_range(
        self, promql: str, **window: float
    ) -> list[tuple[dict[str, str], tuple[tuple[float, float], ...]]]:
        self.ranges += 1
        return super().query_range(promql, **window)


@pytest.fixture(scope="module")
def recorded(exporter: IstioExporter, provider: PrometheusProvider) -> None:
    for second in range(6):
        for service in SERVICES:
            for pod in ("p1", "p2"):
                bad = 20 if (service, pod) == ("ranges-b", "p2") and second > 2 else 1
                exporter.record(f"{service}-v1", pod=pod, requests=500 - bad)
                exporter.record(f"{service}-v1", pod=pod, requests=bad, code="503")
        time.sleep(1.0)
    for service in SERVICES:
        query = f'sum(istio_requests_total{{destination_workload="{service}-v1"}})'
        wait_for_scrape(provider, query, 500.0 * 6 * 2)


def histories(provider: CountingProvider, look_back: LookBack, at: float) -> dict[str, Any]:
    """Each service's look-back at ``at``, all asked at once from threads of their own."""
    found: dict[str, Any] = {}

    def first_tick(service: str) -> None:
        stable = template_context(shop_rollout(service), "v1")
        found[service] = stable_history(
            POLICIES,
            provider,
            stable=stable,
            at=at,
            look_back=look_back,
        )

    threads = [threading.Thread(target=first_tick, args=(s,)) for s in SERVICES]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return found


def test_rollouts_starting_together_share_one_range_query_per_policy_query(
    recorded: None, provider: PrometheusProvider
) -> None:
    at = time.time() + 1.0  # the client sends whole seconds: the last scrape is in range
    batched = CountingProvider(provider)
    ranges = BatchedRanges(batched, gather=0.5)
    shared = histories(batched, LookBack(seconds=20.0, step=STEP, ranges=ranges), at)
    alone = CountingProvider(provider)
    _, end = BatchedRanges.on_grid(at - 20.0, at, STEP)
    own = histories(alone, LookBack(seconds=20.0, step=STEP), end)
    # each counter the look-backs read (per destination pod, then each policy's own bad and
    # total requests, as those find no series here): once for all three, not once each
    assert alone.ranges == len(SERVICES) * batched.ranges
    assert batched.ranges == ranges.queries_sent >= 4
    assert shared == own
    errors = shared["ranges-b"]["istio-error-ratio"]["errors"]
    # each pod, and the fallback's zero at the steps before the first scrape
    assert {"pod=p1", "pod=p2"} <= set(errors) <= {"pod=p1", "pod=p2", ""}
    assert max(points[-1][1] for points in errors.values()) > 20.0


def on_a_ten_second_grid(provider: CountingProvider, *, gather: float) -> tuple[LookBack, float]:
    """A batched look-back in 10 s steps, and a first tick half a second into a step."""
    look_back = LookBack(seconds=20.0, step=10.0, ranges=BatchedRanges(provider, gather=gather))
    return look_back, 10.0 * (time.time() // 10.0) + 0.5


def test_a_rollout_starting_later_in_the_same_step_asks_nothing(
    recorded: None, provider: PrometheusProvider
) -> None:
    counting = CountingProvider(provider)
    look_back, at = on_a_ten_second_grid(counting, gather=0.5)
    first = histories(counting, look_back, at)
    asked = counting.ranges
    again = histories(counting, look_back, at + 2.0)
    assert counting.ranges == asked, "the same range, answered before"
    assert again == first


def test_a_range_no_rollout_will_ask_again_is_forgotten(
    recorded: None, provider: PrometheusProvider
) -> None:
    counting = CountingProvider(provider)
    clock = {"now": time.time(), "monotonic": time.monotonic()}
    ranges = BatchedRanges(
        counting, gather=0.2, clock=lambda: clock["now"], monotonic=lambda: clock["monotonic"]
    )
    look_back = LookBack(seconds=20.0, step=10.0, ranges=ranges)
    at = 10.0 * (time.time() // 10.0) + 0.5
    first = histories(counting, look_back, at)
    asked = counting.ranges
    clock["now"] = at + 10.0 * batch_range.EXPIRE_STEPS  # every range's end 3 steps back...
    ranges.forget_expired()
    assert histories(counting, look_back, at) == first  # ...but asked a moment ago: kept
    assert counting.ranges == asked
    clock["monotonic"] += batch_range.IDLE_BEFORE_EXPIRY
    ranges.forget_expired()  # and now idle: forgotten, a late rollout asks its own again
    assert histories(counting, look_back, at) == first
    assert counting.ranges == 2 * asked


class Overlapping(CountingProvider):
    """Counts range queries, each taking a while, and the most asked at once."""

    def __init__(self, provider: PrometheusProvider) -> None:
        super().__init__(provider)
        self.in_flight = 0
        self.most = 0
        self.lock = threading.Lock()

    def query_range(
        self, promql: str, **window: float
    ) -> list[tuple[dict[str, str], tuple[tuple[float, float], ...]]]:
        with self.lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
        try:
            time.sleep(0.3)
            return super().query_range(promql, **window)
        finally:
            with self.lock:
                self.in_flight -= 1


def test_a_look_back_asks_all_its_counters_at_once(
    recorded: None, provider: PrometheusProvider
) -> None:
    slow = Overlapping(provider)
    look_back, at = on_a_ten_second_grid(slow, gather=0.1)
    stable = template_context(shop_rollout("ranges-a"), "v1")
    first = stable_history(POLICIES, slow, stable=stable, at=at, look_back=look_back)
    counters = slow.ranges
    assert counters >= 4 and slow.most == counters, "every counter in one gathering"
    later = template_context(shop_rollout("ranges-c"), "v1")
    found = stable_history(POLICIES, slow, stable=later, at=at + 1.0, look_back=look_back)
    assert slow.ranges == 2 * counters, "one query per counter for the next rollout too"
    assert set(found) == set(first)


def test_look_backs_enrolled_ahead_are_asked_at_once_and_serve_first_ticks_a_step_later(
    recorded: None, provider: PrometheusProvider
) -> None:
    counting = CountingProvider(provider)
    look_back, at = on_a_ten_second_grid(counting, gather=0.5)
    assert look_back.ranges is not None
    for service in SERVICES:  # a push to three rollouts, seen by the sync
        stable = template_context(shop_rollout(service), "v1")
        enrol_look_back(POLICIES, stable=stable, at=at, look_back=look_back)
    assert counting.ranges == 0  # enrolling asks nothing
    look_back.ranges.ask_pending()
    asked = counting.ranges
    assert asked >= 4  # each counter once, for all three
    first_ticks = histories(counting, look_back, at + 10.0)  # their ticks, in the next step
    assert counting.ranges == asked
    _, end = BatchedRanges.on_grid(at - 20.0, at, 10.0)
    assert first_ticks == histories(CountingProvider(provider), LookBack(20.0, 10.0), end)
    histories(counting, look_back, at + 20.0)  # two steps later: a look-back of its own
    assert counting.ranges == 2 * asked


def over_ten_minutes(provider: CountingProvider) -> tuple[LookBack, float]:
    """A batched look-back over the last ten minutes in 1 s steps, and a first tick now:
    every recorded counter is in it."""
    look_back = LookBack(seconds=600.0, step=STEP, ranges=BatchedRanges(provider, gather=0.5))
    return look_back, time.time() + 1.0


class Failing(CountingProvider):
    """Counts range queries, and fails them while ``down``."""

    down = False

    def query_range(
        self, promql: str, **window: float
    ) -> list[tuple[dict[str, str], tuple[tuple[float, float], ...]]]:
        if self.down:
            self.ranges += 1
            raise errors.Unreachable("prometheus is down")
        return super().query_range(promql, **window)


def test_a_look_back_that_failed_ahead_is_asked_again_by_the_first_ticks(
    recorded: None, provider: PrometheusProvider
) -> None:
    failing = Failing(provider)
    look_back, at = over_ten_minutes(failing)
    assert look_back.ranges is not None
    for service in SERVICES:
        stable = template_context(shop_rollout(service), "v1")
        enrol_look_back(POLICIES, stable=stable, at=at, look_back=look_back)
    failing.down = True
    look_back.ranges.ask_pending()  # no tick waits for these: their failure is nobody's answer
    failed = failing.ranges
    assert failed >= 4
    failing.down = False
    first_ticks = histories(failing, look_back, at)
    assert failing.ranges == 2 * failed  # asked again, once for all three
    _, end = BatchedRanges.on_grid(at - 600.0, at, STEP)
    assert first_ticks == histories(CountingProvider(provider), LookBack(600.0, STEP), end)
    assert all(first_ticks[service] for service in SERVICES)


def test_a_failed_look_back_is_the_answer_of_the_ticks_that_waited_for_it(
    recorded: None, provider: PrometheusProvider
) -> None:
    failing = Failing(provider)
    look_back, at = over_ten_minutes(failing)
    failing.down = True
    assert histories(failing, look_back, at) == {service: {} for service in SERVICES}
    failed = failing.ranges
    assert failed >= 1  # one gathering for the three, each look-back stopping at its failure
    failing.down = False
    again = histories(failing, look_back, at)  # their ticks again, over the same range
    assert failing.ranges > failed
    assert all(again[service] for service in SERVICES)


def test_the_range_ends_on_its_steps_grid() -> None:
    assert BatchedRanges.on_grid(1000.0 - 3600.0, 1000.0, 60.0) == (960.0 - 3600.0, 960.0)
    assert BatchedRanges.on_grid(960.0 - 3600.0, 960.0, 60.0) == (960.0 - 3600.0, 960.0)
