"""When things run: one job per rollout at its analysis interval, the Git poll, and runs on demand.

Built on APScheduler's background scheduler with a thread pool, so a slow Prometheus query
in one rollout never delays another. Each rollout runs at most once at a time: a run asked
for while one is in progress (a Git push, a person's command, the next interval) is folded
into a single follow-up run right after it, never dropped and never overlapping.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import threading
from collections.abc import Callable, Mapping

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

log = logging.getLogger("rollout.scheduler")

SYNC_JOB = "git-sync"


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
        workers: int = 8,
    ) -> None:
        self._run_rollout = run_rollout
        self._sync = sync
        self._poll_interval = poll_interval
        self._slots: dict[str, _Slot] = {}
        self._intervals: dict[str, float] = {}
        self._guard = threading.Lock()
        self._scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=workers)},
            job_defaults={"coalesce": True, "max_instances": 2, "misfire_grace_time": None},
            timezone=datetime.UTC,
        )

    # ---- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
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
        if self._scheduler.running:
            self._scheduler.shutdown(wait=wait)

    # ---- what runs -----------------------------------------------------------------
    def set_rollouts(self, intervals: Mapping[str, float]) -> None:
        """Make the rollout jobs match ``intervals`` (key -> seconds): add, re-time, remove."""
        with self._guard:
            for key in set(self._intervals) - set(intervals):
                self._scheduler.remove_job(_job_id(key))
                del self._intervals[key]
            for key, seconds in intervals.items():
                if self._intervals.get(key) == seconds:
                    continue
                if key in self._intervals:
                    self._scheduler.reschedule_job(
                        _job_id(key), trigger="interval", seconds=seconds
                    )
                else:
                    self._scheduler.add_job(
                        self._guarded,
                        "interval",
                        seconds=seconds,
                        args=[key],
                        id=_job_id(key),
                        next_run_time=_now(),
                    )
                self._intervals[key] = seconds

    def rollouts(self) -> dict[str, float]:
        with self._guard:
            return dict(self._intervals)

    def trigger(self, key: str) -> None:
        """Run a rollout now (after a person's command or a change of its spec)."""
        if key == SYNC_JOB or key in self._intervals:
            self._scheduler.add_job(self._guarded, args=[key], next_run_time=_now())

    def trigger_sync(self) -> None:
        """Sync the spec source now (after a Git push webhook)."""
        self.trigger(SYNC_JOB)

    def runs(self, key: str) -> int:
        slot = self._slots.get(key)
        return slot.runs if slot else 0

    # ---- one run at a time per job ---------------------------------------------------
    def _slot(self, key: str) -> _Slot:
        with self._guard:
            return self._slots.setdefault(key, _Slot())

    def _guarded(self, key: str) -> None:
        slot = self._slot(key)
        if not slot.lock.acquire(blocking=False):
            slot.again = True
            return
        try:
            while True:
                slot.again = False
                slot.runs += 1
                try:
                    if key == SYNC_JOB:
                        self._sync()
                    else:
                        self._run_rollout(key)
                except Exception:  # one rollout's failure must not stop the scheduler
                    log.exception("run of %s failed", key)
                if not slot.again:
                    break
        finally:
            slot.lock.release()


def _job_id(key: str) -> str:
    return f"rollout:{key}"


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)
