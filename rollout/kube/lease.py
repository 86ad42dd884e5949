"""Leader election with a ``coordination.k8s.io/v1`` Lease, as client-go does it.

Several controller replicas may run for availability, but only one may shift traffic at a
time. They compete for one Lease object; the holder renews it every ``retry_period``, the
others poll it. The semantics follow client-go's ``tools/leaderelection``:

- A candidate takes the lease when it is absent (create), released (empty
  ``holderIdentity``) or expired, and then replaces it with the ``resourceVersion`` it read,
  so of two candidates racing only one wins (the other gets 409). A takeover from another
  holder increments ``leaseTransitions`` and sets ``acquireTime``.
- Expiry is judged on the local monotonic clock, never on the timestamps in the record:
  a lease is expired when the record has not changed for ``leaseDurationSeconds`` since
  this process last saw it change. Clock skew between replicas therefore does not matter.
- The leader gives up when it has not renewed for ``renew_deadline`` (shorter than
  ``lease_duration``), so it stops acting before any other replica may take over. It also
  gives up at once when it finds another holder in the record. :attr:`is_leader` turns
  false at the deadline even if the election thread is stuck.
- :meth:`LeaderElector.stop` calls ``on_stopped_leading`` first and then releases the
  lease (empty holder, ``leaseDurationSeconds: 1``), so another replica takes over at its
  next poll rather than after a full lease duration.

For shard Leases (:mod:`rollout.shards`) a candidate may be ``patient``: it takes an absent
or released Lease only once it has seen it free for ``patience`` seconds (an expired one at
once: its holder is gone), so the replica that prefers the shard gets it first. A
``reclaim`` candidate asks a live holder to hand the Lease back (the ``wanted-by``
annotation); a holder that does not reclaim the shard itself steps down and releases it at
its next renew.

After losing the lease the elector goes back to being a candidate until stopped.
Callbacks run on the election thread and must return quickly. The Lease object's API
calls, and the MicroTimes the API requires, are :mod:`rollout.kube.lease_objects`.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from datetime import datetime
from enum import Enum
from typing import Any

from rollout.errors import ClusterError, Conflict, NotFound
from rollout.kube.lease_objects import LeaseObjects, micro_time, parse_micro_time

__all__ = ["LeaderElector"]

logger = logging.getLogger(__name__)

Callback = Callable[[], None]
WANTED_BY = "canary.rollout.dev/wanted-by"
"""Annotation on a Lease: the identity that asks its holder to hand it back."""


class _Attempt(Enum):
    ACQUIRED = "acquired"
    HELD_BY_OTHER = "held by another"
    FAILED = "failed"
    HAND_BACK = "wanted back by the replica that prefers it"


class LeaderElector:
    """Compete for the Lease ``namespace/name`` under ``identity`` in a background thread.

    ``lease_duration`` is whole seconds (the API field is an integer);
    ``lease_duration > renew_deadline > 1.2 * retry_period`` as in client-go.
    """

    def __init__(
        self,
        api_client: Any,
        namespace: str,
        name: str,
        identity: str,
        *,
        lease_duration: int = 15,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        on_started_leading: Callback | None = None,
        on_stopped_leading: Callback | None = None,
        patience: float = 0.0,
        reclaim: bool = False,
    ) -> None:
        if not identity:
            raise ValueError("the leader election identity must not be empty")
        if int(lease_duration) != lease_duration or lease_duration < 1:
            raise ValueError("lease_duration must be a whole number of seconds, at least 1")
        if not lease_duration > renew_deadline > 1.2 * retry_period > 0:
            raise ValueError("need lease_duration > renew_deadline > 1.2 * retry_period > 0")
        self._leases = LeaseObjects(api_client, namespace, name)
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.lease_duration = int(lease_duration)
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self._on_started = on_started_leading
        self._on_stopped = on_stopped_leading
        self.patience = patience
        self.reclaim = reclaim
        self._free_since: float | None = None  # monotonic time the lease was first seen free

        self._lock = threading.Lock()
        self._leading = False
        self._renewed_at = 0.0  # monotonic start of the latest successful acquire or renew
        self._lease: dict[str, Any] | None = None  # the latest lease read or written
        self._observed_spec: dict[str, Any] | None = None
        self._observed_at = 0.0  # monotonic time the record was last seen to change
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- public face ---------------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        """True while this replica holds the lease and is within its renew deadline."""
        with self._lock:
            return self._leading and time.monotonic() - self._renewed_at < self.renew_deadline

    @property
    def holder(self) -> str:
        """The holder identity last seen in the lease ('' when none or not yet read)."""
        with self._lock:
            spec = self._observed_spec or {}
            return str(spec.get("holderIdentity") or "")

    def start(self) -> LeaderElector:
        """Start competing in a daemon thread; returns ``self``."""
        if self._thread is not None or self._stop.is_set():
            raise RuntimeError("a leader elector is started once")
        self._thread = threading.Thread(
            target=self._run, name=f"leader-election-{self.name}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, *, release: bool = True) -> None:
        """Stop competing; when leading, stop acting and then release the lease.

        ``release=False`` leaves the lease to expire, as a crashed process would.
        """
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.renew_deadline + self.retry_period)
            if self._thread.is_alive():
                logger.warning("the leader election thread did not stop in time")
            self._thread = None
        if self._step_down("stopping") and release:
            self._release()
        self._leases.close()

    def __enter__(self) -> LeaderElector:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- the election loop ---------------------------------------------------------------

    def _run(self) -> None:
        logger.info("competing for lease %s/%s as %s", self.namespace, self.name, self.identity)
        while not self._stop.is_set():
            attempt_started = time.monotonic()
            if self._is_leading_flag() and not self.is_leader:
                self._step_down("could not renew within the renew deadline")
            attempt = self._try_acquire_or_renew(attempt_started)
            if self._stop.is_set():
                break
            leading = self._is_leading_flag()
            if attempt is _Attempt.ACQUIRED:
                if leading and time.monotonic() - self._renewed_at >= self.renew_deadline:
                    # the renew call outlasted the deadline: is_leader had turned false
                    self._step_down("renewed only after the renew deadline")
                    leading = False
                with self._lock:
                    self._renewed_at = attempt_started
                    self._leading = True
                self._free_since = None  # after a hand-back, patience starts again
                if not leading:
                    logger.info("acquired lease %s/%s", self.namespace, self.name)
                    self._call(self._on_started, "on_started_leading")
                wait = self.retry_period
            elif leading and attempt is _Attempt.HELD_BY_OTHER:
                self._step_down(f"lease taken by {self.holder!r}")
                wait = self._candidate_wait()
            elif attempt is _Attempt.HAND_BACK:
                if self._step_down("the replica that prefers it asked for it back"):
                    self._release()
                wait = self.retry_period
            elif leading:
                # retry until the deadline; the next pass steps down if it has passed
                remaining = self._renewed_at + self.renew_deadline - time.monotonic()
                wait = min(self.retry_period, remaining)
            else:
                wait = self._candidate_wait()
            self._stop.wait(max(wait, 0.0))
        logger.debug("leader election for %s/%s stopped", self.namespace, self.name)

    def _candidate_wait(self) -> float:
        """Poll every retry period (jittered down, never up), and wake at the expiry."""
        wait = self.retry_period * random.uniform(0.9, 1.0)
        with self._lock:
            spec = self._observed_spec
            if spec and spec.get("holderIdentity") and spec.get("holderIdentity") != self.identity:
                expires = self._observed_at + float(spec.get("leaseDurationSeconds") or 0)
                wait = min(wait, expires - time.monotonic() + 0.01)
        return wait

    def _is_leading_flag(self) -> bool:
        with self._lock:
            return self._leading

    def _step_down(self, why: str) -> bool:
        """Stop leading (flag first, then the callback); False when not leading."""
        with self._lock:
            was_leading, self._leading = self._leading, False
        if was_leading:
            logger.warning("stopped leading lease %s/%s: %s", self.namespace, self.name, why)
            self._call(self._on_stopped, "on_stopped_leading")
        return was_leading

    def _call(self, callback: Callback | None, what: str) -> None:
        if callback is None:
            return
        try:
            callback()
        except Exception:
            logger.exception("the %s callback raised", what)

    # -- one attempt -----------------------------------------------------------------------

    def _request_timeout(self, attempt_started: float) -> float:
        if self._is_leading_flag():
            remaining = self._renewed_at + self.renew_deadline - attempt_started
            return max(0.2, min(remaining, self.renew_deadline))
        return self.renew_deadline

    def _try_acquire_or_renew(self, attempt_started: float) -> _Attempt:
        timeout = self._request_timeout(attempt_started)
        now = micro_time()
        leading = self._is_leading_flag()
        if leading and self._lease is not None:
            # fast path: assume the lease we wrote last is still the current version
            previous = self._lease.get("spec") or {}
            spec = dict(
                previous,
                renewTime=now,
                acquireTime=parse_micro_time(previous.get("acquireTime")) or now,
            )
            try:
                self._store(self._replace(spec, self._lease, timeout))
                return _Attempt.ACQUIRED
            except ClusterError as error:
                logger.debug("optimistic renew failed (%s); reading the lease", error)
        try:
            current = self._read(timeout)
        except NotFound:
            if not self._free_long_enough():
                return _Attempt.HELD_BY_OTHER
            return self._create(now, timeout)
        except ClusterError as error:
            logger.warning("could not read lease %s/%s: %s", self.namespace, self.name, error)
            return _Attempt.FAILED
        self._observe(current)
        spec = current.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        wanted_by = ((current.get("metadata") or {}).get("annotations") or {}).get(WANTED_BY)
        if holder == self.identity and not self.reclaim and wanted_by not in (None, holder):
            self._store(current)
            return _Attempt.HAND_BACK
        if holder and holder != self.identity and not self._observed_expired(spec):
            self._free_since = None
            if self.reclaim and wanted_by != self.identity:
                self._ask_back(current, timeout)
            return _Attempt.HELD_BY_OTHER
        if not holder and not self._free_long_enough():
            return _Attempt.HELD_BY_OTHER
        new_spec: dict[str, Any] = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": self.lease_duration,
            "renewTime": now,
            "acquireTime": parse_micro_time(spec.get("acquireTime")) or now,
            "leaseTransitions": int(spec.get("leaseTransitions") or 0),
        }
        if holder != self.identity:
            new_spec["acquireTime"] = now
            new_spec["leaseTransitions"] += 1
        try:
            self._store(self._replace(new_spec, current, timeout))
        except Conflict:
            logger.debug("lost the race for lease %s/%s", self.namespace, self.name)
            return _Attempt.FAILED
        except ClusterError as error:
            logger.warning("could not update lease %s/%s: %s", self.namespace, self.name, error)
            return _Attempt.FAILED
        return _Attempt.ACQUIRED

    def _create(self, now: datetime, timeout: float) -> _Attempt:
        spec = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": self.lease_duration,
            "acquireTime": now,
            "renewTime": now,
            "leaseTransitions": 0,
        }
        try:
            created = self._leases.create(spec, timeout)
        except ClusterError as error:
            logger.debug("could not create lease %s/%s: %s", self.namespace, self.name, error)
            return _Attempt.FAILED
        self._store(created)
        return _Attempt.ACQUIRED

    def _release(self) -> None:
        """Hand the lease back: empty holder and a one-second duration, like client-go."""
        lease = self._lease
        for _ in range(2):
            if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.identity:
                return
            now = micro_time()
            spec = dict(
                lease.get("spec") or {},
                holderIdentity="",
                leaseDurationSeconds=1,
                renewTime=now,
                acquireTime=now,
            )
            try:
                self._store(self._replace(spec, lease, self.renew_deadline))
                logger.info("released lease %s/%s", self.namespace, self.name)
                return
            except Conflict:
                lease = self._safe_read()
            except ClusterError as error:
                logger.warning(
                    "could not release lease %s/%s: %s", self.namespace, self.name, error
                )
                return

    def _free_long_enough(self) -> bool:
        """An absent or released lease: patient candidates wait ``patience`` seconds."""
        now = time.monotonic()
        if self._free_since is None:
            self._free_since = now
        return now - self._free_since >= self.patience

    def _ask_back(self, current: dict[str, Any], timeout: float) -> None:
        """Ask the holder to hand the lease back (it does at its next renew)."""
        try:
            self._leases.replace(
                dict(current.get("spec") or {}),
                current,
                timeout,
                annotations={WANTED_BY: self.identity},
            )
            logger.info("asked for lease %s/%s back", self.namespace, self.name)
        except ClusterError as error:
            logger.debug("could not ask for lease %s/%s: %s", self.namespace, self.name, error)

    # -- record keeping ------------------------------------------------------------------

    def _observe(self, lease: dict[str, Any]) -> None:
        spec = dict(lease.get("spec") or {})
        with self._lock:
            if spec != self._observed_spec:
                self._observed_spec = spec
                self._observed_at = time.monotonic()

    def _observed_expired(self, spec: dict[str, Any]) -> bool:
        with self._lock:
            duration = float(spec.get("leaseDurationSeconds") or 0)
            return self._observed_at + duration <= time.monotonic()

    def _store(self, lease: dict[str, Any]) -> None:
        self._lease = lease
        self._observe(lease)

    # -- API calls -----------------------------------------------------------------------

    def _read(self, timeout: float) -> dict[str, Any]:
        return self._leases.read(timeout)

    def _safe_read(self) -> dict[str, Any] | None:
        try:
            return self._leases.read(self.renew_deadline)
        except ClusterError:
            return None

    def _replace(
        self, spec: dict[str, Any], based_on: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        return self._leases.replace(spec, based_on, timeout)
