"""Send one notification to every alert target of a rollout, off the caller's thread.

The controller calls ``AlertDispatcher.dispatch`` on its reconcile path, often right after a
rollback. That call does no I/O: it filters targets by the events they want, skips the
alerts already sent for this revision, and hands the rest to a bounded queue served by a
few worker threads. Secrets are resolved and webhooks called on those workers, so a webhook
that hangs or stays down costs at most one worker for one delivery deadline and never
delays traffic changes.

Alerts of one rollout to one target leave in the order they were dispatched: a worker takes
the oldest queued alert whose rollout and target have none in delivery, so a "promoted"
never overtakes the "advanced" before it (even while a retry holds that one back), and a
slow target holds back only its own alerts.

Dedupe is one alert per event per revision per target: the key is ``<target>:<dedupe_key>``
and the set of keys already sent is handed in and returned, so the caller keeps it in the
Rollout status and a controller restart does not repeat alerts. A key is claimed when its
alert is queued (at most once); an alert that finds the queue full is dropped without
claiming its key, so the next tick tries again.

Every alert ends in one ``AlertResult`` (sent, failed with a reason, or dropped), given to
``on_result`` for the controller's ``alerts sent`` / ``alerts failed`` counters and kept on
the returned ``Dispatch`` for whoever wants to wait for it.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Literal

from rollout.errors import NotifyError, NotifyUnavailable
from rollout.events import Notification
from rollout.notify.factory import build_notifier, wants
from rollout.notify.notifier import DEFAULT_POLICY, RetryPolicy
from rollout.ports import SecretResolver
from rollout.spec.alerts import AlertTarget

__all__ = ["AlertDispatcher", "AlertResult", "Dispatch", "alert_key"]

log = logging.getLogger("rollout.notify")

AlertStatus = Literal["sent", "failed", "dropped"]


def alert_key(target: str, notification: Notification) -> str:
    """The key that marks this event of this revision as sent to ``target``."""
    return f"{target}:{notification.dedupe_key}"


@dataclasses.dataclass(frozen=True)
class AlertResult:
    """What became of one alert to one target."""

    target: str
    key: str
    event: str
    status: AlertStatus
    reason: str = ""
    elapsed: float = 0.0


@dataclasses.dataclass(frozen=True)
class Dispatch:
    """What ``dispatch`` did. Persist ``sent_keys``; ``wait`` for the results if needed."""

    sent_keys: frozenset[str]
    queued: tuple[str, ...]
    already_sent: tuple[str, ...]
    not_subscribed: tuple[str, ...]
    dropped: tuple[str, ...]
    futures: tuple[concurrent.futures.Future[AlertResult], ...] = ()

    def wait(self, timeout: float) -> list[AlertResult]:
        """Every result, in target order; ``TimeoutError`` if some are still in flight."""
        _, pending = concurrent.futures.wait(self.futures, timeout=timeout)
        if pending:
            raise TimeoutError(f"{len(pending)} alert(s) still in flight after {timeout}s")
        return [future.result() for future in self.futures]


@dataclasses.dataclass(frozen=True)
class _Job:
    target: AlertTarget
    notification: Notification
    key: str
    future: concurrent.futures.Future[AlertResult]

    @property
    def lane(self) -> str:
        """Alerts in one lane (a rollout and a target) are delivered one at a time, in order."""
        n = self.notification
        return f"{n.namespace}/{n.rollout}/{self.target.name}"


class AlertDispatcher:
    """A bounded pool of alert senders shared by every rollout."""

    def __init__(
        self,
        *,
        resolver: SecretResolver,
        policy: RetryPolicy = DEFAULT_POLICY,
        workers: int = 4,
        max_pending: int = 100,
        on_result: Callable[[AlertResult], None] | None = None,
    ) -> None:
        self._resolver = resolver
        self._policy = policy
        self._on_result = on_result
        self._max_pending = max_pending
        self._pending: collections.deque[_Job] = collections.deque()
        self._delivering: set[str] = set()
        self._changed = threading.Condition()
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._serve, name=f"alert-sender-{i}", daemon=True)
            for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def __enter__(self) -> AlertDispatcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def dispatch(
        self,
        notification: Notification,
        targets: Sequence[AlertTarget],
        *,
        sent_keys: Iterable[str] = (),
    ) -> Dispatch:
        """Queue ``notification`` for each target that wants it and has not had it yet."""
        keys = set(sent_keys)
        queued: list[str] = []
        already: list[str] = []
        unsubscribed: list[str] = []
        dropped: list[str] = []
        futures: list[concurrent.futures.Future[AlertResult]] = []
        for target in targets:
            if not wants(target, notification):
                unsubscribed.append(target.name)
                continue
            key = alert_key(target.name, notification)
            if key in keys:
                already.append(target.name)
                continue
            future: concurrent.futures.Future[AlertResult] = concurrent.futures.Future()
            futures.append(future)
            job = _Job(target=target, notification=notification, key=key, future=future)
            reason = "the dispatcher is closed" if self._closed else ""
            if not reason:
                with self._changed:
                    if len(self._pending) >= self._max_pending:
                        reason = f"alert queue full ({self._max_pending} pending)"
                    else:
                        self._pending.append(job)
                        self._changed.notify()
            if reason:
                dropped.append(target.name)
                log.warning("alert %s to target %s dropped: %s", key, target.name, reason)
                self._finish(job, status="dropped", reason=reason, elapsed=0.0)
                continue
            keys.add(key)
            queued.append(target.name)
        return Dispatch(
            sent_keys=frozenset(keys),
            queued=tuple(queued),
            already_sent=tuple(already),
            not_subscribed=tuple(unsubscribed),
            dropped=tuple(dropped),
            futures=tuple(futures),
        )

    def send(self, notification: Notification, targets: Sequence[AlertTarget]) -> None:
        """``rollout.ports.AlertSink``: queue for every target that wants it.

        The coordinator dedupes through the state's outbox, so no keys are handed in.
        Raises ``NotifyUnavailable`` naming the targets whose alert was dropped.
        """
        dispatch = self.dispatch(notification, targets)
        if dispatch.dropped:
            raise NotifyUnavailable(
                f"alert {notification.dedupe_key} dropped for {', '.join(dispatch.dropped)}: "
                "the alert queue is full or closed"
            )

    def stats(self) -> dict[str, int]:
        """Alerts ``sent``, ``failed`` and ``dropped`` since start."""
        with self._lock:
            return {name: self._counts[name] for name in ("sent", "failed", "dropped")}

    def close(self, *, timeout: float = 5.0) -> None:
        """Stop taking alerts; let the workers finish what is queued, for up to ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _serve(self) -> None:
        while True:
            with self._changed:
                job = self._next_job()
                while job is None:
                    if self._closed and not self._pending:
                        return
                    self._changed.wait()
                    job = self._next_job()
                self._delivering.add(job.lane)
            try:
                self._deliver(job)
            finally:
                with self._changed:
                    self._delivering.discard(job.lane)
                    self._changed.notify_all()

    def _next_job(self) -> _Job | None:
        """The oldest queued alert whose lane has none in delivery (taken off the queue)."""
        for job in self._pending:
            if job.lane not in self._delivering:
                self._pending.remove(job)
                return job
        return None

    def _deliver(self, job: _Job) -> None:
        started = time.monotonic()
        status: AlertStatus = "sent"
        reason = ""
        try:
            notifier = build_notifier(
                job.target,
                namespace=job.notification.namespace,
                resolver=self._resolver,
                policy=self._policy,
            )
            notifier.send(job.notification)
        except NotifyError as error:
            status, reason = "failed", str(error)
        except Exception as error:  # a bug must not kill the worker; its text may hold a URL
            status, reason = "failed", f"unexpected {type(error).__name__}"
            log.error("alert %s to target %s: %s", job.key, job.target.name, reason)
        self._finish(job, status=status, reason=reason, elapsed=time.monotonic() - started)

    def _finish(self, job: _Job, *, status: AlertStatus, reason: str, elapsed: float) -> None:
        result = AlertResult(
            target=job.target.name,
            key=job.key,
            event=job.notification.event.value,
            status=status,
            reason=reason,
            elapsed=elapsed,
        )
        with self._lock:
            self._counts[status] += 1
        if self._on_result is not None:
            try:
                self._on_result(result)
            except Exception as error:
                log.error("alert result callback failed: %s", type(error).__name__)
        job.future.set_result(result)
