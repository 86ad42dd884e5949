"""The one coordinator: read spec and state, observe, decide, apply effects, save.

For one rollout and one tick, in a safe order:

1. load the state (the Rollout's status) and its resourceVersion;
2. observe: the canary Deployment's readiness and the routing config (checked before any
   traffic moves, so a missing VirtualService or subset leaves no partial write), the live
   weights (drift from what we wrote is reported and corrected), and the analysis verdict;
3. ``decide`` (pure); a gate on a decided move that holds it (a hook's no, a canary still
   scaling up) is decided again with the hold (:mod:`rollout.hook_calls`, ``workload_calls``);
4. apply effects: traffic first, then the state with optimistic concurrency (a conflict
   means someone else wrote: re-read and decide again), then alerts, told hooks, replicas.
   A tick's progress alone (analysis counters, the verdict's numbers) is written at a
   cadence, anything else at once (:mod:`rollout.status_writes`). The alerts a decision
   owes are written as sent with the state, and handed to the dispatcher once that write
   succeeded: one status write per tick, and a conflict's retry never queues one twice.

Weights are absolute and the state is saved after traffic moved, so a crash at any point
only repeats work: a restarted controller re-reads the state and decides again. Running it
twice for the same tick changes nothing the second time.

The adapters are reached only through the ports of :mod:`rollout.ports`; this module imports
no adapter. Every status write goes through here with the same conflict loop: the tick's,
and :meth:`Reconciler.report_invalid_spec` for a spec that cannot run at all.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from rollout import hook_calls, ports, route_record, status_writes, version_ports, workload_calls
from rollout.adoption import LiveRoutes
from rollout.analysis.verdicts import Verdict
from rollout.decide import Decision, Observations, decide, mark_sent
from rollout.drift import weight_drift
from rollout.effects import RecordEvent, SetWeights
from rollout.errors import Conflict, RolloutError
from rollout.events import Notification
from rollout.ports import Desired
from rollout.spec.rollout import Rollout
from rollout.spec.routing import Routing, routing_at
from rollout.state import (
    PendingAlert,
    Phase,
    RolloutState,
    reconcile_failure,
    with_failed_reconcile,
    with_standard_conditions,
)

__all__ = ["MAX_CONFLICT_RETRIES", "Ports", "Reconciled", "Reconciler", "starts_canary"]

log = logging.getLogger("rollout.reconcile")

MAX_CONDITION_MESSAGE = 1000
"""A failure's message is cut here: it is written into the status of every failing tick."""

MAX_CONFLICT_RETRIES = 3


@dataclasses.dataclass
class Ports:
    """Every adapter the coordinator talks to, each through its port."""

    store: ports.StateStore
    router: ports.Router
    readiness: ports.ReadinessProbe
    analyzer: ports.Analyzer
    alerts: ports.AlertSink
    events: ports.EventSink
    clock: Callable[[], float] = time.time
    hooks: version_ports.HookCaller = dataclasses.field(default_factory=hook_calls.Unwired)
    workloads: version_ports.Workloads = dataclasses.field(default_factory=workload_calls.Unmanaged)


@dataclasses.dataclass(frozen=True)
class Reconciled:
    """What one reconcile did, for logs, metrics and tests."""

    state: RolloutState
    decision: Decision | None
    verdict: Verdict | None
    conflicts: int = 0
    drift: str | None = None


class Reconciler:
    def __init__(self, ports: Ports, *, persist_every: float = status_writes.PERSIST_EVERY) -> None:
        self.ports = ports
        self.unsaved = status_writes.UnsavedStates(persist_every=persist_every)

    def reconcile(self, desired: ports.Desired) -> Reconciled:
        """One tick of one rollout; retries the whole tick on a write conflict."""
        conflicts = 0
        while True:
            try:
                outcome = self._tick(desired)
            except Conflict as error:
                conflicts += 1
                if conflicts > MAX_CONFLICT_RETRIES:
                    raise
                log.info("conflict writing %s, re-reading: %s", desired.rollout.key, error)
                continue
            return dataclasses.replace(outcome, conflicts=conflicts)

    def prepare(self, candidates: Iterable[tuple[Desired, ports.Stored]]) -> None:
        """Rollouts a sync is about to hand new specs (``candidates``: each new desired
        spec and its Rollout as stored): those whose next tick starts a canary have what
        that tick will read asked ahead by the analyzer, in the background."""
        starting = [
            (desired, state)
            for desired, stored in candidates
            if starts_canary(desired, state := self.unsaved.current(stored))
        ]
        if starting:
            self.ports.analyzer.prepare(starting, self.ports.clock())

    def report_failure(self, namespace: str, name: str, error: RolloutError) -> None:
        """``Reconciled=False`` and ``Ready=False`` with the reason on a Rollout whose tick
        failed, and one warning Event each time the reason changes: a rollout the controller
        keeps failing on shows in ``rollout status``, ``kubectl describe`` and the phase
        metric, not only in the log. A write conflict is left to the next failing tick."""
        reason = type(error).__name__
        message = " ".join(str(error).split())[:MAX_CONDITION_MESSAGE]
        stored = self.ports.store.load(namespace, name)
        current = reconcile_failure(stored.state)
        if current is not None and (current.reason, current.message) == (reason, message):
            return
        state = with_failed_reconcile(
            stored.state,
            reason=reason,
            message=message,
            generation=stored.generation,
            now=self.ports.clock(),
        )
        self.ports.store.save_state(namespace, name, state, stored.resource_version)
        if current is None or current.reason != reason:
            self._record(
                stored, RecordEvent("ReconcileFailed", f"{reason}: {message}", warning=True)
            )

    def report_invalid_spec(self, stored: ports.Stored, problem: str) -> None:
        """A ``SpecValid=False`` condition and a warning Event on a Rollout whose spec
        cannot run and has no valid one to fall back on; once per problem.

        ``stored`` is the Rollout as last read; a conflict re-reads it and tries again, as
        a tick does, so a person's command written meanwhile is never overwritten.
        """
        conflicts = 0
        while True:
            current = stored.state.condition("SpecValid")
            if current is not None and current.status == "False" and current.message == problem:
                return
            log.error("rollout %s: the spec in the cluster is invalid: %s", stored.key, problem)
            state = stored.state.with_condition(
                "SpecValid", "False", "InvalidSpec", problem, self.ports.clock()
            )
            try:
                self.ports.store.save_state(
                    stored.namespace, stored.name, state, stored.resource_version
                )
            except Conflict:
                conflicts += 1
                if conflicts > MAX_CONFLICT_RETRIES:
                    raise
                stored = self.ports.store.load(stored.namespace, stored.name)
                continue
            self._record(stored, RecordEvent("SpecInvalid", problem, warning=True))
            return

    def _tick(self, desired: ports.Desired) -> Reconciled:
        rollout = desired.rollout
        adapters = self.ports
        stored = adapters.store.load(rollout.namespace, rollout.name)
        state = self.unsaved.current(stored)
        now = adapters.clock()
        ready, message = self._canary_readiness(desired, stored)
        verdict, analysis_state = self._analyze(desired, state, ready, now)
        observations = Observations(
            now=now,
            spec_hash=desired.spec_hash,
            commit=desired.commit,
            author=desired.author,
            canary_ready=ready,
            readiness_message=message,
            verdict=verdict,
            analysis_state=analysis_state,
            command=stored.command,
            spec_problems=desired.spec_problems,
            live=self._live_routes(rollout) if state.stable_version is None else None,
        )
        decision = decide(rollout, state, observations, deleted=desired.deleted)
        for _ in range(3):  # a gate that holds is decided again; a gate before it may hold
            hold = workload_calls.gate_hold(adapters.workloads, rollout, state, decision)
            hold = hold or hook_calls.first_hold(adapters.hooks, rollout, state, decision)
            if hold is None:
                break
            observations = dataclasses.replace(observations, held=hold)
            decision = decide(rollout, state, observations, deleted=desired.deleted)
        for weights in _weights_with_record(rollout, state, decision):
            adapters.router.set_weights(rollout, weights)
        next_state = decision.state
        if stored.generation is not None:
            next_state = next_state.model_copy(update={"observed_generation": stored.generation})
        drift = None if decision.weights else self._correct_drift(rollout, next_state, stored)
        if drift:
            next_state = next_state.with_condition("TrafficRouted", "False", "Drift", drift, now)
        elif next_state.condition("TrafficRouted") is not None or decision.weights:
            next_state = next_state.with_condition(
                "TrafficRouted", "True", "WeightsApplied", "weights are as decided", now
            )
        next_state = with_standard_conditions(
            next_state, desired_version=rollout.spec.version, generation=stored.generation, now=now
        )
        status_writes.log_transition(state, next_state, verdict)
        owed = next_state.outbox
        if owed:
            next_state = mark_sent(next_state, [pending.key for pending in owed])
        version = stored.resource_version
        if self.unsaved.must_write(stored, next_state, now):
            version = adapters.store.save_state(
                rollout.namespace, rollout.name, next_state, version
            )
            self.unsaved.written(rollout.key, version, next_state, now)
        elif next_state != stored.state:
            self.unsaved.keep(stored, next_state)
        self._deliver_alerts(rollout, owed)
        for effect in decision.effects:
            if isinstance(effect, RecordEvent):
                self._record(stored, effect)
        failure = reconcile_failure(state)
        if failure is not None:
            recovered = f"ticks go through again (they failed with {failure.reason})"
            self._record(stored, RecordEvent("Reconciled", recovered))
        for told in hook_calls.tell(adapters.hooks, adapters.alerts, rollout, state, decision, now):
            self._record(stored, RecordEvent("HookFailed", told, warning=True))
        hook_calls.nudge_load(adapters.hooks, rollout, next_state, verdict)
        workload_calls.apply_scaling(adapters.workloads, rollout, next_state, now)
        return Reconciled(next_state, decision, verdict, drift=drift)

    def _analyze(
        self, desired: ports.Desired, state: RolloutState, ready: bool, now: float
    ) -> tuple[Verdict | None, dict[str, Any] | None]:
        """Judge the canary whenever it has, or is about to get, traffic.

        The tick that first sends traffic to a canary is analysed too, with a fresh
        analysis state: its counters are the baseline that counts start from.
        """
        version = desired.rollout.spec.version
        if desired.deleted or state.stable_version is None:
            return None, None
        if starts_canary(desired, state):
            if not ready:
                return None, None
            fresh = state.model_copy(update={"canary_version": version, "analysis": {}})
            return self.ports.analyzer.analyze(desired, fresh, now)
        if state.phase.active and (state.phase is not Phase.WAITING or ready):
            return self.ports.analyzer.analyze(desired, state, now)
        return None, None

    def _live_routes(self, rollout: Rollout) -> LiveRoutes | None:
        """What the routes carry and the record beside them, for adoption; None when they
        cannot be read (nothing is adopted then)."""
        try:
            routes = self.ports.router.read_weights(rollout)
        except RolloutError as error:
            log.warning("%s: cannot read the live routes to adopt: %s", rollout.key, error)
            return None
        return LiveRoutes(
            splits=tuple(dict(route.weights) for route in routes),
            records=tuple(route.record for route in routes if route.record),
        )

    def _correct_drift(
        self, rollout: Rollout, state: RolloutState, stored: ports.Stored
    ) -> str | None:
        """Someone else changed our weights: say so, and put back what the state says.

        Checked against the state this tick decided, not the one it read: after a crash
        between moving traffic and saving the state, the live weight is the one the
        re-decided step sets again, which is no drift and must not be undone.
        """
        if state.stable_version is None:
            return None
        try:
            routes = self.ports.router.read_weights(rollout)
        except RolloutError as error:
            log.warning("%s: cannot read live weights: %s", rollout.key, error)
            return None
        drift = weight_drift(rollout, state, routes)
        if drift is None:
            return None
        log.warning("%s: %s", rollout.key, drift)
        self.ports.router.set_weights(
            rollout,
            SetWeights(
                state.stable_version,
                state.canary_version if state.canary_weight else None,
                state.canary_weight,
                record=_encoded_record(rollout, state),
                routing=routing_of(rollout, state),
            ),
        )
        self._record(stored, RecordEvent("WeightDrift", drift, warning=True))
        return drift

    def _canary_readiness(self, desired: ports.Desired, stored: ports.Stored) -> tuple[bool, str]:
        rollout, state = desired.rollout, stored.state
        canary = state.canary_version
        if canary is None:
            if state.stable_version is None or desired.deleted:
                return False, ""
            canary = rollout.spec.version
            if canary == state.stable_version:
                return False, ""
        problems = self.ports.router.check(rollout, state.stable_version or canary, canary)
        if problems:
            message = "; ".join(problems)
            log.warning("%s: traffic config not usable: %s", rollout.key, message)
            return False, message
        unmade = workload_calls.ensure_canary(self.ports.workloads, rollout, canary, stored.uid)
        if unmade is not None:
            return False, unmade
        found = self.ports.readiness.readiness(rollout.namespace, rollout.deployment_for(canary))
        return found.ready, found.message

    def _record(self, stored: ports.Stored, event: RecordEvent) -> None:
        try:
            self.ports.events.record(stored.namespace, stored.name, stored.uid, event)
        except RolloutError as error:
            log.warning("%s: event %s not recorded: %s", stored.key, event.reason, error)

    def _deliver_alerts(self, rollout: Rollout, owed: Iterable[PendingAlert]) -> None:
        """Hand the alerts the decision owed to the dispatcher, after the state that
        records them as sent was written (an alert it cannot queue is given up, logged).

        At most once: a controller killed after that write and before the dispatcher
        delivered them does not send them again, as it does not resend alerts it had
        queued and not yet delivered. A tick that fails to write queues none, and the
        tick that decides again owes them again."""
        for pending in owed:
            try:
                notification = Notification.from_dict(pending.notification)
                self.ports.alerts.send(notification, rollout.spec.alerts)
            except (RolloutError, KeyError, ValueError) as error:
                log.warning("%s: alert %s not queued: %s", rollout.key, pending.key, error)


def starts_canary(desired: ports.Desired, state: RolloutState) -> bool:
    """A tick with ``desired`` starts its version as a new canary (its first analysis is a
    baseline): there is a stable version, the spec's version is neither it nor the
    current canary, and it is not the revision that already failed."""
    version = desired.rollout.spec.version
    if desired.deleted or state.stable_version is None:
        return False
    if version in (state.canary_version, state.stable_version):
        return False
    failed = state.failed
    return failed is None or (failed.version, failed.spec_hash) != (version, desired.spec_hash)


def _encoded_record(rollout: Rollout, state: RolloutState) -> str | None:
    record = route_record.record_of(rollout.key, state)
    return route_record.encode(record) if record is not None else None


def _weights_with_record(
    rollout: Rollout, before: RolloutState, decision: Decision
) -> list[SetWeights]:
    """The weights to write, each with the record of the state decided, so the record on
    the VirtualService moves with the weights; and the weights as they are when only the
    record's facts changed (a failure with no traffic moved, a failure settled)."""
    record = route_record.record_of(rollout.key, decision.state)
    if record is None:
        return []
    encoded = route_record.encode(record)
    routing = routing_of(rollout, decision.state)
    if decision.weights is not None:
        return [dataclasses.replace(decision.weights, record=encoded, routing=routing)]
    previous = route_record.record_of(rollout.key, before)
    if previous is not None and previous.facts() == record.facts():
        return []
    state = decision.state
    canary = state.canary_version if state.canary_weight else None
    weight = state.canary_weight if canary else 0
    return [SetWeights(record.stable, canary, weight, record=encoded, routing=routing)]


def routing_of(rollout: Rollout, state: RolloutState) -> Routing:
    """The managed routes a state calls for: none without a canary, else the steps' header
    route and mirror, and sticky sessions from the start (a user who got stable while the
    canary had no weight stays there as it rises)."""
    if state.canary_version is None:
        return Routing()
    return routing_at(rollout, state.step_index)
