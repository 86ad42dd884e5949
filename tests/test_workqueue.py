"""The work queue: due times, de-duplication, one worker per key, backoff after failures,
and shut-down, on a clock the test moves by hand (and real threads where it matters)."""

from __future__ import annotations

import threading
import time

import pytest

from rollout.workqueue import Backoff, Item, TokenBucket, WorkQueue


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def queue(clock: Clock) -> WorkQueue:
    return WorkQueue(clock=clock, backoff=Backoff(base=1.0, cap=8.0))


def test_a_key_is_handed_out_when_due_with_its_due_time(queue: WorkQueue, clock: Clock) -> None:
    queue.add("shop/a", at=1005.0)
    assert queue.get(timeout=0) is None
    clock.now = 1006.5
    assert queue.get(timeout=0) == Item("shop/a", 1005.0)


def test_keys_come_out_in_due_order(queue: WorkQueue, clock: Clock) -> None:
    queue.add("late", at=1002.0)
    queue.add("early", at=1001.0)
    clock.now = 1003.0
    first, second = queue.get(timeout=0), queue.get(timeout=0)
    assert first is not None and second is not None
    assert [first.key, second.key] == ["early", "late"]


def test_a_queued_key_is_queued_once_and_the_earlier_due_time_wins(
    queue: WorkQueue, clock: Clock
) -> None:
    queue.add("a", at=1010.0)
    queue.add("a", at=1003.0)
    queue.add("a", at=1020.0)
    assert len(queue) == 1
    clock.now = 1004.0
    assert queue.get(timeout=0) == Item("a", 1003.0)
    clock.now = 1030.0
    assert queue.get(timeout=0) is None


def test_a_key_held_by_a_worker_is_not_handed_to_another_until_done(
    queue: WorkQueue, clock: Clock
) -> None:
    queue.add("a")
    held = queue.get(timeout=0)
    assert held is not None
    queue.add("a")
    queue.add("a")
    assert queue.get(timeout=0) is None
    queue.done("a")
    again = queue.get(timeout=0)
    assert again is not None and again.key == "a"
    queue.done("a")
    assert queue.get(timeout=0) is None


def test_changes_run_before_keys_that_are_only_due_in_the_order_they_came(
    queue: WorkQueue, clock: Clock
) -> None:
    for name in ("tick-a", "tick-b", "pushed", "commanded"):
        queue.add(name, at=clock.now - 30)  # a backlog of overdue ticks
    clock.now += 1
    queue.add("commanded", change=True)
    queue.add("pushed", change=True)
    queue.add("pushed", change=True)  # queued once
    assert len(queue) == 4
    taken = [queue.get(timeout=0) for _ in range(4)]
    assert [(item.key, item.due) for item in taken if item] == [
        ("commanded", 1001.0),
        ("pushed", 1001.0),
        ("tick-a", 970.0),
        ("tick-b", 970.0),
    ]
    assert queue.get(timeout=0) is None


def test_a_change_to_a_key_held_by_a_worker_runs_first_once_it_is_done(
    queue: WorkQueue, clock: Clock
) -> None:
    queue.add("held")
    held = queue.get(timeout=0)
    queue.add("due", at=clock.now - 5)
    queue.add("held", change=True)
    assert held is not None and queue.due_at("held") == clock.now
    queue.done("held")
    first = queue.get(timeout=0)
    assert first is not None and first.key == "held"
    queue.remove("due")
    assert queue.get(timeout=0) is None


def test_failures_back_off_exponentially_up_to_the_cap_and_forget_resets(
    queue: WorkQueue,
) -> None:
    delays = [queue.add_after_failure("a") for _ in range(6)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    queue.forget("a")
    assert queue.add_after_failure("a") == 1.0


def test_retries_of_many_keys_at_once_are_spread_by_the_token_bucket(clock: Clock) -> None:
    queue = WorkQueue(
        clock=clock, backoff=Backoff(base=0.0, cap=0.0), retry_bucket=TokenBucket(2.0, 2)
    )
    delays = [queue.add_after_failure(f"k{n}") for n in range(5)]
    assert delays == [0.0, 0.0, 0.5, 1.0, 1.5]


def test_a_removed_key_is_not_handed_out_nor_queued_again_after_its_run(
    queue: WorkQueue,
) -> None:
    queue.add("gone")
    queue.remove("gone")
    assert queue.get(timeout=0) is None
    queue.add("held")
    assert queue.get(timeout=0) is not None
    queue.add("held")
    queue.remove("held")
    queue.done("held")
    assert queue.get(timeout=0) is None


def test_a_waiting_worker_wakes_when_an_earlier_key_arrives() -> None:
    queue = WorkQueue()
    queue.add("later", at=time.monotonic() + 60)
    taken: list[Item | None] = []
    worker = threading.Thread(target=lambda: taken.append(queue.get(timeout=10)))
    worker.start()
    time.sleep(0.05)
    queue.add("now")
    worker.join(timeout=5)
    assert taken and taken[0] is not None and taken[0].key == "now"


def test_shut_down_releases_every_waiting_worker() -> None:
    queue = WorkQueue()
    results: list[Item | None] = []
    workers = [threading.Thread(target=lambda: results.append(queue.get())) for _ in range(3)]
    for worker in workers:
        worker.start()
    time.sleep(0.05)
    queue.shut_down()
    for worker in workers:
        worker.join(timeout=5)
    assert results == [None, None, None]


def test_many_workers_never_hold_one_key_at_once() -> None:
    queue = WorkQueue()
    holding: set[str] = set()
    overlaps: list[str] = []
    runs = {"count": 0}
    guard = threading.Lock()

    def work() -> None:
        while (item := queue.get(timeout=0.5)) is not None:
            with guard:
                if item.key in holding:
                    overlaps.append(item.key)
                holding.add(item.key)
                runs["count"] += 1
            time.sleep(0.001)
            queue.add(item.key)  # asks for another run while holding it
            with guard:
                holding.discard(item.key)
            queue.done(item.key)
            if runs["count"] > 400:
                queue.shut_down()

    for key in ("a", "b", "c"):
        queue.add(key)
    workers = [threading.Thread(target=work) for _ in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=20)
    assert runs["count"] > 400
    assert overlaps == []
