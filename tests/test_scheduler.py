"""The scheduler: runs per rollout, no overlap, folded re-runs, a slow rollout blocks no other,
ticks on their beat with their lag reported, a late run's next beat skipped, failures
retried with backoff.

Real threads (the work queue's workers, APScheduler for the sync) and real time, with short
intervals; every wait is bounded.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator

import pytest

from rollout.scheduler import SYNC_JOB, Scheduler, _next_due


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


class Recorder:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.running: Counter[str] = Counter()
        self.overlaps = 0
        self.slow: dict[str, float] = {}
        self.lock = threading.Lock()

    def run(self, key: str) -> None:
        with self.lock:
            self.running[key] += 1
            if self.running[key] > 1:
                self.overlaps += 1
            self.calls[key] += 1
        time.sleep(self.slow.get(key, 0.0))
        with self.lock:
            self.running[key] -= 1

    def sync(self) -> None:
        self.run(SYNC_JOB)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def scheduler(recorder: Recorder) -> Iterator[Scheduler]:
    scheduler = Scheduler(run_rollout=recorder.run, sync=recorder.sync, poll_interval=3600)
    scheduler.start()
    yield scheduler
    scheduler.stop()


def test_sync_runs_at_start_and_on_demand(scheduler: Scheduler, recorder: Recorder) -> None:
    wait_until(lambda: recorder.calls[SYNC_JOB] == 1)
    scheduler.trigger_sync()
    wait_until(lambda: recorder.calls[SYNC_JOB] == 2)


def test_rollouts_run_at_their_interval(scheduler: Scheduler, recorder: Recorder) -> None:
    scheduler.set_rollouts({"shop/a": 0.2, "shop/b": 3600})
    wait_until(lambda: recorder.calls["shop/a"] >= 4)
    assert recorder.calls["shop/b"] == 1  # once at start, not again within the hour


def test_removed_rollouts_stop_running(scheduler: Scheduler, recorder: Recorder) -> None:
    scheduler.set_rollouts({"shop/a": 0.1})
    wait_until(lambda: recorder.calls["shop/a"] >= 2)
    scheduler.set_rollouts({})
    time.sleep(0.2)
    count = recorder.calls["shop/a"]
    time.sleep(0.4)
    assert recorder.calls["shop/a"] == count
    assert scheduler.rollouts() == {}


def test_triggers_during_a_run_fold_into_one_follow_up(
    scheduler: Scheduler, recorder: Recorder
) -> None:
    recorder.slow["shop/a"] = 0.5
    scheduler.set_rollouts({"shop/a": 3600})
    wait_until(lambda: recorder.running["shop/a"] == 1)
    for _ in range(5):
        scheduler.trigger("shop/a")
    wait_until(lambda: recorder.calls["shop/a"] == 2, timeout=5)
    time.sleep(0.7)
    assert recorder.calls["shop/a"] == 2
    assert recorder.overlaps == 0


def test_a_slow_rollout_does_not_block_others(scheduler: Scheduler, recorder: Recorder) -> None:
    recorder.slow["shop/slow"] = 6.0
    scheduler.set_rollouts({"shop/slow": 0.1, "shop/fast": 0.1})
    wait_until(lambda: recorder.calls["shop/fast"] >= 5, timeout=5.0)
    assert recorder.calls["shop/slow"] == 1
    assert recorder.overlaps == 0


def test_a_failing_run_keeps_the_schedule(recorder: Recorder) -> None:
    calls: Counter[str] = Counter()

    def explode(key: str) -> None:
        calls[key] += 1
        raise RuntimeError("boom")

    scheduler = Scheduler(run_rollout=explode, sync=lambda: None, poll_interval=3600)
    scheduler.start()
    try:
        scheduler.set_rollouts({"shop/a": 0.1})
        wait_until(lambda: calls["shop/a"] >= 3)
    finally:
        scheduler.stop()


def test_a_failing_run_backs_off_instead_of_running_at_every_interval() -> None:
    times: list[float] = []

    def explode(key: str) -> None:
        times.append(time.monotonic())
        raise RuntimeError("boom")

    scheduler = Scheduler(run_rollout=explode, sync=lambda: None, poll_interval=3600)
    scheduler.start()
    try:
        scheduler.set_rollouts({"shop/a": 0.05})
        wait_until(lambda: len(times) >= 3, timeout=10)
    finally:
        scheduler.stop()
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert gaps[0] >= 0.9  # 1 s backoff, not the 50 ms interval
    assert gaps[1] >= 1.9  # then 2 s


def test_ticks_keep_their_beat_and_report_their_lag() -> None:
    lags: list[float] = []
    starts: list[float] = []

    def run(key: str) -> None:
        starts.append(time.monotonic())
        time.sleep(0.1)  # a run that takes half the interval

    scheduler = Scheduler(
        run_rollout=run, sync=lambda: None, poll_interval=3600, on_tick_lag=lags.append
    )
    scheduler.start()
    try:
        scheduler.set_rollouts({"shop/a": 0.2})
        wait_until(lambda: len(starts) >= 6, timeout=10)
    finally:
        scheduler.stop()
    span = starts[5] - starts[0]
    assert span == pytest.approx(1.0, abs=0.25)  # 5 intervals, not 5 x (interval + run): 1.5
    assert len(lags) >= 6 and sorted(lags)[len(lags) // 2] < 0.1


def test_the_next_beat_comes_one_interval_after_the_last_unless_the_run_started_late() -> None:
    now = time.monotonic()
    # (now - 0.5) + 5.0 and now + 4.5 may differ in the last bit: compared to a nanosecond
    # on time, or less than half an interval late: the next beat
    assert _next_due(now - 0.5, 5.0, started=now - 0.4) == pytest.approx((now + 4.5, 0), abs=1e-9)
    assert _next_due(now - 2.4, 5.0, started=now) == pytest.approx((now + 2.6, 0), abs=1e-9)
    # more than half an interval late: that beat would come too soon, the one after it is kept
    assert _next_due(now - 3.0, 5.0, started=now) == pytest.approx((now + 7.0, 1), abs=1e-9)
    # more than an interval behind: at once, every missed beat skipped
    assert _next_due(now - 12.0, 5.0, started=now) == pytest.approx((now, 0), abs=0.05)


def test_late_runs_skip_the_beat_that_would_follow_them_too_soon() -> None:
    starts: dict[str, list[float]] = {"shop/a": [], "shop/b": []}
    skipped: list[int] = []

    def run(key: str) -> None:
        starts[key].append(time.monotonic())
        time.sleep(0.15)  # two rollouts of 0.15 s at 0.2 s on one worker: always behind

    scheduler = Scheduler(
        run_rollout=run,
        sync=lambda: None,
        poll_interval=3600,
        workers=1,
        on_skipped_ticks=skipped.append,
    )
    scheduler.start()
    try:
        scheduler.set_rollouts({"shop/a": 0.2, "shop/b": 0.2})
        wait_until(lambda: min(len(s) for s in starts.values()) >= 6, timeout=10)
    finally:
        scheduler.stop()
    assert sum(skipped) > 0
    for times in starts.values():
        gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
        # never run again within half an interval of a run's start
        assert min(gaps[:5]) >= 0.1


def test_many_rollouts_are_served_by_the_fixed_pool_without_overlap(recorder: Recorder) -> None:
    scheduler = Scheduler(
        run_rollout=recorder.run, sync=lambda: None, poll_interval=3600, workers=4
    )
    scheduler.start()
    try:
        scheduler.set_rollouts({f"shop/r{n}": 0.1 for n in range(200)})
        wait_until(lambda: all(recorder.calls[f"shop/r{n}"] >= 3 for n in range(200)), 10)
    finally:
        scheduler.stop()
    assert recorder.overlaps == 0
    assert threading.active_count() < 40
