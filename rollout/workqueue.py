"""One due-time work queue for every rollout, as client-go's ``util/workqueue`` does it.

A job per rollout in a general-purpose scheduler does not scale: each tick is a timer, a
thread-pool submission and a lock, runs that find the previous one still going pile up,
and nothing says how late a tick started. Here a rollout is a key in one queue:

- a key is queued at most once: adding a queued key only moves its due time earlier;
- a key is handed to one worker at a time: a key added while a worker holds it is queued
  again when the worker is done (``done``), never given to a second worker;
- a failed run is retried with per-key exponential backoff (``add_after_failure``), capped,
  and reset by ``forget`` after a success; retries also draw from one token bucket, so a
  dependency that fails for every rollout at once is not hammered;
- ``get`` returns the key with the time it was due, so the caller can measure tick lag;
- a key added as a change (``add(key, change=True)``: a spec pushed, a person's command) is
  handed out before every key that is merely due, in the order the changes came: when the
  workers fall behind their ticks, a push or an abort does not wait behind the backlog.

The queue holds no threads; ``rollout.scheduler`` runs the workers.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import threading
import time
from collections.abc import Callable

__all__ = ["Backoff", "Item", "TokenBucket", "WorkQueue"]


@dataclasses.dataclass(frozen=True)
class Item:
    """A key handed to a worker, and the time (on the queue's clock) it was due."""

    key: str
    due: float


@dataclasses.dataclass(frozen=True)
class Backoff:
    """Per-key exponential backoff: ``base * 2**failures``, at most ``cap`` seconds."""

    base: float = 1.0
    cap: float = 300.0

    def delay(self, failures: int) -> float:
        return float(min(self.cap, self.base * 2 ** max(0, failures - 1)))


class TokenBucket:
    """``rate`` retries per second with bursts of ``burst``: the delay before the next one."""

    def __init__(self, rate: float = 10.0, burst: int = 100) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._last: float | None = None

    def reserve(self, now: float) -> float:
        """Take a token; return how long to wait until it is really available."""
        if self._last is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate


class WorkQueue:
    """Keys with due times; de-duplicated, one worker per key, backoff on failure."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        backoff: Backoff | None = None,
        retry_bucket: TokenBucket | None = None,
    ) -> None:
        self._clock = clock
        self._backoff = backoff or Backoff()
        self._bucket = retry_bucket or TokenBucket()
        self._heap: list[tuple[float, int, str]] = []
        self._due: dict[str, float] = {}
        """Queued keys and when each is due (an entry in the heap with another time is stale)."""
        self._changes: dict[str, float] = {}
        """Keys queued as changes, in arrival order, with when each was added (now due)."""
        self._processing: set[str] = set()
        self._again: dict[str, float] = {}
        """Keys added while a worker held them, with the due time to queue them at."""
        self._again_changes: set[str] = set()
        """Those of them added as changes."""
        self._failures: dict[str, int] = {}
        self._order = itertools.count()
        lock = threading.RLock()
        self._changed = threading.Condition(lock)
        self._finished = threading.Condition(lock)
        """Notified when a worker is done with a key (for ``wait_done``)."""
        self._shut_down = False

    # ---- adding --------------------------------------------------------------------
    def add(self, key: str, *, at: float | None = None, change: bool = False) -> None:
        """Queue ``key`` to run at ``at`` (now by default); an earlier due time wins. A
        ``change`` runs now, ahead of the keys that are only due."""
        due = self._clock() if at is None or change else at
        with self._changed:
            if self._shut_down:
                return
            if key in self._processing:
                self._again[key] = min(due, self._again.get(key, due))
                if change:
                    self._again_changes.add(key)
                return
            if change:
                self._push_change(key, due)
            else:
                self._push(key, due)

    def add_after(self, key: str, delay: float) -> None:
        self.add(key, at=self._clock() + max(0.0, delay))

    def add_after_failure(self, key: str) -> float:
        """Queue ``key`` again after its backoff; returns the delay chosen."""
        delay = self.failure_delay(key)
        self.add_after(key, delay)
        return delay

    def failure_delay(self, key: str) -> float:
        """Count a failure of ``key``; the delay its retry must wait (backoff, bucket)."""
        with self._changed:
            failures = self._failures.get(key, 0) + 1
            self._failures[key] = failures
            return max(self._backoff.delay(failures), self._bucket.reserve(self._clock()))

    def forget(self, key: str) -> None:
        """A success: the next failure of ``key`` starts the backoff from the beginning."""
        with self._changed:
            self._failures.pop(key, None)

    def failures(self, key: str) -> int:
        with self._changed:
            return self._failures.get(key, 0)

    def remove(self, key: str) -> None:
        """Drop ``key``: not queued any more, not queued again when its run ends."""
        with self._changed:
            self._due.pop(key, None)
            self._changes.pop(key, None)
            self._again.pop(key, None)
            self._again_changes.discard(key)
            self._failures.pop(key, None)

    def _push_change(self, key: str, due: float) -> None:
        if key in self._changes:
            return
        self._due.pop(key, None)  # its heap entry turns stale
        self._changes[key] = due
        self._changed.notify()

    def _push(self, key: str, due: float) -> None:
        if key in self._changes:
            return  # already queued to run now
        current = self._due.get(key)
        if current is not None and current <= due:
            return
        self._due[key] = due
        heapq.heappush(self._heap, (due, next(self._order), key))
        self._changed.notify()

    # ---- taking --------------------------------------------------------------------
    def get(self, timeout: float | None = None) -> Item | None:
        """The next due key, waiting for it; None on shut-down or after ``timeout``."""
        deadline = None if timeout is None else self._clock() + timeout
        with self._changed:
            while not self._shut_down:
                if self._changes:
                    key = next(iter(self._changes))
                    due = self._changes.pop(key)
                    self._processing.add(key)
                    return Item(key, due)
                now = self._clock()
                wait = self._next_wait(now)
                if wait is not None and wait <= 0:
                    due, _, key = heapq.heappop(self._heap)
                    del self._due[key]
                    self._processing.add(key)
                    return Item(key, due)
                if deadline is not None:
                    left = deadline - now
                    if left <= 0:
                        return None
                    wait = left if wait is None else min(wait, left)
                self._changed.wait(wait)
            return None

    def _next_wait(self, now: float) -> float | None:
        """Seconds until the earliest queued key is due (stale heap entries dropped)."""
        while self._heap:
            due, _, key = self._heap[0]
            if self._due.get(key) == due:
                return due - now
            heapq.heappop(self._heap)
        return None

    def done(self, key: str) -> None:
        """The worker is finished with ``key``; a re-add that came meanwhile is queued now."""
        with self._changed:
            self._processing.discard(key)
            again = self._again.pop(key, None)
            change = key in self._again_changes
            self._again_changes.discard(key)
            if again is not None and not self._shut_down:
                if change:
                    self._push_change(key, again)
                else:
                    self._push(key, again)
            self._finished.notify_all()

    def wait_done(self, keys: set[str]) -> None:
        """Return once no worker holds any of ``keys`` (remove them first to keep it so)."""
        with self._changed:
            while self._processing & keys:
                self._finished.wait()

    # ---- state -------------------------------------------------------------------------
    def due_at(self, key: str) -> float | None:
        with self._changed:
            return self._changes.get(key, self._due.get(key, self._again.get(key)))

    def __len__(self) -> int:
        with self._changed:
            return len(self._due) + len(self._changes)

    def shut_down(self) -> None:
        """Wake every waiting worker; ``get`` returns None from now on."""
        with self._changed:
            self._shut_down = True
            self._changed.notify_all()
