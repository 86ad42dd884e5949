"""What the leader does: sync the spec source, and reconcile one rollout when it is due.

A sync reads the source (Git, mirrored into the cluster; or the policies of cluster mode)
through :class:`rollout.ports.SpecSource`, lists the Rollouts, resolves each one's desired
spec (:mod:`rollout.desired`) and makes the scheduler's jobs match. A failed sync keeps the
last good specs. Running a rollout resolves its spec again, hands it to the coordinator
(:class:`rollout.reconcile.Reconciler`), counts what happened, queues a write-back the
rollout owes, and retires a Rollout whose spec left Git once it has finished.

A spec that cannot run at all is reported on its Rollout through the coordinator, the one
writer of status. Only the leader calls in here; :mod:`rollout.controller` sees to that.
With shards, ``owns`` says which rollouts are this replica's: a sync mirrors and schedules
only those, so every Rollout has one writer.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from rollout.desired import DesiredSpecs
from rollout.errors import ClusterError, NotFound, RolloutError, SourceError
from rollout.logs import rollout_context
from rollout.ports import Desired, SpecSet, SpecSource, StateStore, Stored
from rollout.reconcile import Reconciler
from rollout.scheduler import Scheduler
from rollout.server.conditions import Conditions
from rollout.server.metrics import ControllerMetrics
from rollout.spec.rollout import Rollout
from rollout.state import RolloutState
from rollout.writeback import WriteBackWorker

__all__ = ["LeaderWork"]

log = logging.getLogger("rollout.controller")


class LeaderWork:
    """Syncs the spec source and runs rollouts, for the scheduler to call."""

    def __init__(
        self,
        *,
        source: SpecSource,
        store: StateStore,
        reconciler: Reconciler,
        metrics: ControllerMetrics,
        conditions: Conditions,
        jobs: Callable[[], Scheduler],
        resync_interval: float,
        write_back: WriteBackWorker | None = None,
        namespace: str | None = None,
        owns: Callable[[str], bool] = lambda key: True,
    ) -> None:
        self._source = source
        self._store = store
        self._reconciler = reconciler
        self._metrics = metrics
        self._conditions = conditions
        self._jobs = jobs
        self._resync_interval = resync_interval
        self._write_back = write_back
        self._namespace = namespace
        self._owns = owns
        self._desired = DesiredSpecs()
        self._reported_problems: set[str] = set()
        self._triggered_fingerprint = ""
        self._ran: dict[str, tuple[object, ...]] = {}
        """What each rollout last ran with: its spec's hash, its policies, its spec problems,
        whether its spec left Git."""

    # ---- syncing the spec source -------------------------------------------------------

    def sync(self) -> bool:
        """Read the source and make the rollout jobs match; False when the source failed
        (the last good specs are kept)."""
        try:
            specs = self._source.sync()
        except SourceError as error:
            self._metrics.record_git_sync(success=False)
            log.warning("spec source sync failed, keeping the last good specs: %s", error)
            return False
        self._metrics.record_git_sync(success=True)
        self._desired.update(specs)
        reported = {str(problem) for problem in specs.catalog.problems}
        for problem in sorted(reported - self._reported_problems):
            log.warning("invalid spec: %s", problem)
        self._reported_problems = reported
        self._conditions.spec_files({problem.path for problem in specs.catalog.problems})
        try:
            self._store.check_served()
            before_publish = self._store.list_rollouts(self._namespace)
        except ClusterError as error:
            self._conditions.rollout_api(error)
            return False
        self._conditions.rollout_api(None)
        self._reconciler.prepare(self._new_specs(specs, before_publish))
        self._source.publish(self._owned_specs(specs))
        listed = self._store.list_rollouts(self._namespace)
        stored = {item.key: item for item in listed if self._owns(item.key)}
        intervals: dict[str, float] = {}
        changed: set[str] = set()
        for key, item in stored.items():
            desired = self._resolve(item)
            if desired is not None:
                intervals[key] = self._interval_for(desired.rollout, item.state)
                if self._ran.get(key) != _ran_with(desired):
                    changed.add(key)
        self._desired.keep_only(set(stored))
        jobs = self._jobs()
        before = jobs.rollouts()
        jobs.set_rollouts(intervals)
        if specs.fingerprint != self._triggered_fingerprint:
            # new specs or policies: every rollout they change decides again now (spec
            # changes also reach a rollout through the watch as their mirror lands; policy
            # changes only through here); one that already ran with them is not run again
            self._triggered_fingerprint = specs.fingerprint
            for key in intervals:
                if key in before and key in changed:
                    jobs.trigger(key)
        phases = [(i.namespace, i.name, i.shown_phase) for i in stored.values()]
        self._metrics.set_rollout_phases(phases)
        return True

    def stopped_leading(self) -> None:
        """This replica no longer syncs: what its last sync saw is no longer current."""
        self._conditions.forget(*Conditions.SYNC_CONDITIONS)

    def _new_specs(self, specs: SpecSet, listed: list[Stored]) -> Iterator[tuple[Desired, Stored]]:
        """Each of this replica's Rollouts with the spec Git now gives it, before it is
        mirrored; ``Reconciler.prepare`` picks those whose next tick starts a canary, and has
        their first analysis asked ahead while their specs are written."""
        rollouts = specs.catalog.rollouts
        for item in listed:
            entry = rollouts.get(item.key)
            if entry is None or not self._owns(item.key):
                continue
            desired = Desired(
                rollout=entry.rollout, policies=entry.policies, commit=entry.origin.commit
            )
            yield desired, item

    def _owned_specs(self, specs: SpecSet) -> SpecSet:
        """The specs of this replica's rollouts only, for the mirror to write."""
        rollouts = specs.catalog.rollouts
        owned = {key: entry for key, entry in rollouts.items() if self._owns(key)}
        if len(owned) == len(rollouts):
            return specs
        return dataclasses.replace(
            specs, catalog=dataclasses.replace(specs.catalog, rollouts=owned)
        )

    def rollout_changed(
        self, key: tuple[str, str], old: dict[str, Any] | None, new: dict[str, Any] | None
    ) -> None:
        """A watch event: run the rollout now if its spec, a command or its existence
        changed; our own status writes change none of those."""
        if old is not None and new is not None and _intent(old) == _intent(new):
            return
        self._jobs().trigger(f"{key[0]}/{key[1]}")

    def _interval_for(
        self, rollout: Rollout, state: RolloutState, *, ticked_from: float | None = None
    ) -> float:
        """The analysis interval while something is under way or a managed version waits
        to be scaled to zero (:mod:`rollout.workload_calls`), else the slow resync.

        After a tick, ``ticked_from`` is the clock just before it: a retirement due after
        it may have been due only after the tick read its clock, so it was not scaled yet
        and the next tick must come at the analysis interval, not a slow resync away.
        """
        since = time.time() if ticked_from is None else ticked_from
        retiring = any(at > since for at in state.retiring.values())
        if state.phase.active or rollout.spec.version != state.stable_version or retiring:
            return rollout.interval_seconds
        return max(rollout.interval_seconds, self._resync_interval)

    # ---- one rollout -------------------------------------------------------------------

    def run_rollout(self, key: str) -> None:
        namespace, name = key.split("/", 1)
        with rollout_context(rollout=name, namespace=namespace):
            started = time.perf_counter()
            try:
                self._reconcile(namespace, name)
            except RolloutError as error:
                self._metrics.count_reconcile_error(namespace, name, kind=type(error).__name__)
                log.error("reconcile failed: %s", error)
                self._report_failure(namespace, name, error)
            finally:
                self._metrics.observe_reconcile(time.perf_counter() - started)

    def _report_failure(self, namespace: str, name: str, error: RolloutError) -> None:
        try:
            self._reconciler.report_failure(namespace, name, error)
        except RolloutError as failure:
            log.warning("rollout %s/%s: failure not recorded: %s", namespace, name, failure)

    def _reconcile(self, namespace: str, name: str) -> None:
        try:
            item = self._store.load(namespace, name)
        except NotFound:
            self._forget(f"{namespace}/{name}")
            return
        desired = self._resolve(item)
        if desired is None:
            return
        ticked_from = time.time()
        outcome = self._reconciler.reconcile(desired)
        self._ran[item.key] = _ran_with(desired)
        state = outcome.state
        interval = self._interval_for(desired.rollout, state, ticked_from=ticked_from)
        self._jobs().retime(item.key, interval)
        self._metrics.set_canary_weight(namespace, name, state.canary_weight)
        if outcome.verdict is not None:
            for evidence in outcome.verdict.evidence:
                self._metrics.count_verdict(
                    namespace, name, policy=evidence.policy, outcome=evidence.outcome.value
                )
        if self._write_back is not None and not desired.deleted:
            self._write_back.consider(
                desired.rollout,
                state,
                source_path=item.source_path,
                annotations=item.annotations,
                uid=item.uid,
            )
        if desired.deleted and not state.phase.active:
            self._source.retire(namespace, name)
            self._forget(item.key)

    def _resolve(self, item: Stored) -> Desired | None:
        """The desired spec; a spec that cannot run is reported on its Rollout."""
        resolved = self._desired.resolve(item)
        if isinstance(resolved, Desired):
            return resolved
        try:
            self._reconciler.report_invalid_spec(item, resolved)
        except RolloutError as error:
            log.warning("rollout %s: invalid spec not reported: %s", item.key, error)
        return None

    def _forget(self, key: str) -> None:
        """The Rollout is gone: no job, no metrics series, no remembered spec."""
        namespace, name = key.split("/", 1)
        jobs = self._jobs()
        if key in jobs.rollouts():
            log.info("rollout %s is gone: forgetting it", key)
        self._desired.forget(key)
        self._ran.pop(key, None)
        self._reconciler.unsaved.forget(key)
        self._metrics.forget_rollout(namespace, name)
        jobs.set_rollouts({k: v for k, v in jobs.rollouts().items() if k != key})


def _ran_with(desired: Desired) -> tuple[object, ...]:
    """What a run of a rollout decided with: its spec (by hash), its policies, what is
    wrong with the spec in Git (a file turned invalid keeps the last valid spec, whose hash
    does not change, and that run is what says so on the Rollout), and whether the spec
    left Git (the same spec then runs to retire the Rollout, at once, not a resync later)."""
    return desired.spec_hash, desired.policies, desired.spec_problems, desired.deleted


def _intent(obj: dict[str, Any]) -> tuple[object, ...]:
    """What people and Git change on a Rollout: its generation (the spec) and annotations."""
    metadata = obj.get("metadata") or {}
    fields = ("generation", "annotations", "deletionTimestamp")
    return tuple(metadata.get(field) for field in fields)
