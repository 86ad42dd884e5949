"""When things run: every rollout through one due-time work queue, the Git poll on a timer.

Rollouts are keys of ``rollout.workqueue.WorkQueue``, served by a fixed pool of worker
threads: a rollout is queued at most once and run by one worker at a time, so a run asked
for while one is in progress (a Git push, a person's command, the next interval) is folded
into a single follow-up run right after it, never dropped and never overlapping; a slow
Prometheus query in one rollout never delays another beyond the pool's width. After a
run the rollout is queued again at its previous due time plus its interval (ticks stay on
their beat however long a run took), skipping a beat that would come less than half an
interval after a late run's start; a run that raises is retried with backoff. How late
each run started after it was due (tick lag) is reported through ``on_tick_lag``, the
beats skipped through ``on_skipped_ticks``.

APScheduler keeps only the periodic jobs: the Git poll (and the sync on demand).
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import threading
import time
from collections.abc import Callable, Mapping

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from rollout.workqueue import Backoff, WorkQueue

log = logging.getLogger("rollout.scheduler")

SYNC_JOB = "git-sync"
DEFAULT_WORKERS = 32
"""Rollouts run at once. A run mostly waits (for the API server's answer to its status
write, for a batch query): at 1,000 rollouts in progress 8 workers left the process idle
half the time while ticks fell behind; threads that wait cost no CPU."""


@dataclasses.dataclass
class _Slot:
    """The run lock and the 'run again' flag of one job."""

    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    again: bool = False
    runs: int = 0


class Scheduler:
    """Runs ``run_rollout(key)`` per rollout and ``sync()`` for the spec source."""

    def __init__(
        self,
        *,
        run_rollout: Callable[[str], None],
        sync: Callable[[], None],
        poll_interval: float,
        workers: int = DEFAULT_WORKERS,
        on_tick_lag: Callable[[float], None] | None = None,
        on_skipped_ticks: Callable[[int], None] | None = None,
    ) -> None:
        self._run_rollout = run_rollout
        self._sync = sync
        self._poll_interval = poll_interval
        self._on_tick_lag = on_tick_lag
        self._on_skipped_ticks = on_skipped_ticks
        self._slots: dict[str, _Slot] = {}
        self._intervals: dict[str, float] = {}
        self._runs: dict[str, int] = {}
        self._guard = threading.Lock()
        self._queue = WorkQueue(backoff=Backoff(base=1.0, cap=300.0))
        self._worker_count = workers
        self._workers: list[threading.Thread] = []
        self._scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=1)},
            job_defaults={"coalesce": True, "max_instances": 2, "misfire_grace_time": None},
            timezone=datetime.UTC,
        )

    # ---- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        for number in range(self._worker_count):
            worker = threading.Thread(
                target=self._work, name=f"rollout-worker-{number}", daemon=True
            )
            worker.start()
            self._workers.append(worker)
        self._scheduler.start()
        self._scheduler.add_job(
            self._guarded,
            "interval",
            seconds=self._poll_interval,
            args=[SYNC_JOB],
            id=SYNC_JOB,
            next_run_time=_now(),
        )

    def stop(self, *, wait: bool = True) -> None:
        """Stop taking work; with ``wait``, return only once no run is in progress."""
        self._queue.shut_down()
        if self._scheduler.running:
            self._scheduler.shutdown(wait=wait)
        if wait:
            for worker in self._workers:
                if worker is not threading.current_thread():
                    worker.join()

    # ---- what runs -----------------------------------------------------------------
    def set_rollouts(self, intervals: Mapping[str, float]) -> None:
        """Make the queued rollouts match ``intervals`` (key -> seconds): add, re-time, remove.

        A new rollout runs at once; a re-timed one keeps its next due time and runs at the
        new interval after it.
        """
        with self._guard:
            for key in set(self._intervals) - set(intervals):
                self._queue.remove(key)
                del self._intervals[key]
            added = [key for key in intervals if key not in self._intervals]
            self._intervals.update(intervals)
        for key in added:
            self._queue.add(key)

    def drop(self, keys: set[str]) -> None:
        """Stop running ``keys`` (a shard given up): none is queued again, and this returns
        once none of them is running, so nothing of theirs is written after it."""
        with self._guard:
            for key in keys:
                self._queue.remove(key)
                self._intervals.pop(key, None)
        self._queue.wait_done(keys)

    def retime(self, key: str, seconds: float) -> None:
        """Run ``key`` every ``seconds`` from its next run on (a known rollout only)."""
        with self._guard:
            if key in self._intervals:
                self._intervals[key] = seconds

    def rollouts(self) -> dict[str, float]:
        with self._guard:
            return dict(self._intervals)

    def trigger(self, key: str) -> None:
        """Run a rollout now (after a person's command or a change of its spec), ahead of
        the rollouts that are only due for their next tick."""
        if key == SYNC_JOB:
            self._scheduler.add_job(self._guarded, args=[key], next_run_time=_now())
        else:
            with self._guard:
                known = key in self._intervals
            if known:
                self._queue.add(key, change=True)

    def trigger_sync(self) -> None:
        """Sync the spec source now (after a Git push webhook)."""
        self.trigger(SYNC_JOB)

    def runs(self, key: str) -> int:
        with self._guard:
            if key == SYNC_JOB:
                slot = self._slots.get(key)
                return slot.runs if slot else 0
            return self._runs.get(key, 0)

    # ---- the rollout workers ---------------------------------------------------------
    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            started = time.monotonic()
            if self._on_tick_lag is not None:
                self._on_tick_lag(max(0.0, started - item.due))
            with self._guard:
                self._runs[item.key] = self._runs.get(item.key, 0) + 1
            failed = False
            try:
                self._run_rollout(item.key)
            except Exception:  # one rollout's failure must not stop its worker
                log.exception("run of %s failed", item.key)
                failed = True
            with self._guard:
                interval = self._intervals.get(item.key)
            if interval is not None:
                if failed:
                    delay = max(interval, self._queue.failure_delay(item.key))
                    self._queue.add_after(item.key, delay)
                else:
                    self._queue.forget(item.key)
                    due, skipped = _next_due(item.due, interval, started)
                    if skipped and self._on_skipped_ticks is not None:
                        self._on_skipped_ticks(skipped)
                    self._queue.add(item.key, at=due)
            self._queue.done(item.key)

    # ---- one run at a time per job ---------------------------------------------------
    def _slot(self, key: str) -> _Slot:
        with self._guard:
            return self._slots.setdefault(key, _Slot())

    def _guarded(self, key: str) -> None:
        """The sync job, at most one at a time; a request meanwhile folds into one more run."""
        slot = self._slot(key)
        if not slot.lock.acquire(blocking=False):
            slot.again = True
            return
        try:
            while True:
                slot.again = False
                slot.runs += 1
                try:
                    self._sync()
                except Exception:  # a failed sync must not stop the scheduler
                    log.exception("run of %s failed", key)
                if not slot.again:
                    break
        finally:
            slot.lock.release()


def _next_due(due: float, interval: float, started: float) -> tuple[float, int]:
    """The next beat of a run that was due at ``due`` and started at ``started``, and how
    many beats it skips to get there.

    One interval after the last due time, so ticks keep their beat; but never within half
    an interval of the run's start: a run that started late would otherwise be followed by
    another soon after, which reads the same batched answers (renewed once per interval)
    and only adds work when the workers are already behind. That beat is skipped, and the
    rollout is analysed at most one and a half intervals apart. A rollout more than an
    interval behind runs again at once, skipping every beat it missed."""
    following = due + interval
    now = time.monotonic()
    if following < now - interval:
        return now, 0
    skipped = 0
    while following < started + interval / 2:
        following += interval
        skipped += 1
    return following, skipped


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)
