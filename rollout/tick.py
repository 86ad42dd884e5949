"""One tick of the decision core as it is being decided: what was observed, the working
state, and the effects and alerts it collects.

Pure (no I/O, no clock). :mod:`rollout.decide` runs a tick through the state machine and
:mod:`rollout.steps` walks a progressing rollout's steps; both change the state only through
:class:`Tick`, whose transitions (start, end on stable, promote) each set the phase, route
the traffic, record the Event and owe the alert together, so none is forgotten.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from rollout.adoption import LiveRoutes
from rollout.analysis.verdicts import Evidence, Outcome, Verdict
from rollout.effects import Effect, RecordEvent, SetWeights
from rollout.events import Notification
from rollout.spec.alerts import AlertEvent
from rollout.spec.base import seconds
from rollout.spec.hooks import HookKind
from rollout.spec.rollout import Rollout
from rollout.state import (
    MAX_SENT_ALERTS,
    Command,
    FailedRevision,
    PendingAlert,
    Phase,
    RolloutState,
)

__all__ = ["MAX_RETIRING", "Decision", "HookHold", "HookPoint", "Observations", "Tick"]

MAX_RETIRING = 10
"""Retired managed versions remembered (and kept at zero replicas) per rollout."""


@dataclasses.dataclass(frozen=True)
class HookPoint:
    """A point where the spec's hooks of one kind are called: a move a gate may stop
    (``pre-rollout``, ``confirm-*``) or an outcome to tell (``post-promotion``,
    ``rollback``), with the step and the canary weight it is about."""

    kind: HookKind
    step: int
    weight: int


@dataclasses.dataclass(frozen=True)
class HookHold:
    """A gate that did not say yes this tick: the move it guards is held. ``reason`` is
    what people read ("the confirm-step hook said no (...)", "the canary is scaling up").

    ``failed`` says a hook's receiver gave no answer (a timeout, unreachable, 5xx after the
    retries): that is alerted on, once per step; a plain no is not a failure. A
    ``rollback`` hold is no hook's: it keeps an abort inside a keep window waiting until
    the old stable has its replicas ready again."""

    kind: HookKind
    reason: str
    failed: bool = False


@dataclasses.dataclass(frozen=True)
class Observations:
    """What the coordinator saw this tick."""

    now: float
    spec_hash: str = ""
    commit: str | None = None
    author: str | None = None
    canary_ready: bool = False
    readiness_message: str = ""
    verdict: Verdict | None = None
    analysis_state: dict[str, Any] | None = None
    command: Command | None = None
    spec_problems: tuple[str, ...] = ()
    """The newest spec in the source is invalid: the rollout keeps its last valid spec."""
    live: LiveRoutes | None = None
    """The live routes, read when there is no state: what adoption starts from."""
    held: HookHold | None = None
    """A gate the coordinator asked and that did not say yes: its move is held."""


@dataclasses.dataclass(frozen=True)
class Decision:
    state: RolloutState
    effects: tuple[Effect, ...]
    hooks: tuple[HookPoint, ...] = ()
    """The hook points this decision passed, in order: gates to ask before it is applied,
    outcomes to tell after."""

    @property
    def weights(self) -> SetWeights | None:
        found = [e for e in self.effects if isinstance(e, SetWeights)]
        return found[-1] if found else None


class Tick:
    """The working state of one decision; collects effects and notifications."""

    def __init__(self, rollout: Rollout, state: RolloutState, obs: Observations) -> None:
        self.rollout = rollout
        self.state = state
        self.obs = obs
        self.effects: list[Effect] = []
        self.hooks: list[HookPoint] = []

    # ---- small helpers -------------------------------------------------------------
    def update(self, **changes: Any) -> None:
        self.state = self.state.model_copy(update=changes)

    def event(self, reason: str, message: str, *, warning: bool = False) -> None:
        self.effects.append(RecordEvent(reason, message, warning))

    def route(self, stable: str, canary: str | None, weight: int) -> None:
        self.effects = [e for e in self.effects if not isinstance(e, SetWeights)]
        self.effects.append(SetWeights(stable, canary, weight))
        self.update(canary_weight=weight)

    def notify(self, event: AlertEvent, summary: str, evidence: tuple[Evidence, ...] = ()) -> None:
        note = Notification(
            event=event,
            rollout=self.rollout.name,
            namespace=self.rollout.namespace,
            from_version=self.state.stable_version,
            to_version=self.state.canary_version or self.rollout.spec.version,
            summary=summary,
            step=self.state.step_index if self.state.phase.active else None,
            weight=self.state.canary_weight,
            evidence=evidence,
            commit=self.obs.commit,
            author=self.obs.author,
            revision=self.state.revision,
            at=self.obs.now,
        )
        key = note.dedupe_key
        owed = {a.key for a in self.state.outbox}
        if key in self.state.alerts_sent or key in owed:
            return
        pending = PendingAlert(key=key, notification=note.as_dict())
        self.update(outbox=[*self.state.outbox, pending])

    def set_phase(self, phase: Phase, message: str) -> None:
        self.update(phase=phase, message=message)

    def pass_gate(self, kind: HookKind, weight: int) -> bool:
        """Whether the move a ``kind`` gate guards may happen this tick: True when nothing
        guards it (no such hook; for ``confirm-step``, no managed canary to size first) or
        the coordinator has not been told no (the point is recorded, for it to ask); False
        when it was, with why in the message."""
        sized = kind is HookKind.CONFIRM_STEP and self.rollout.spec.workload.managed is not None
        if not self.rollout.hooks_of(kind) and not sized:
            return True
        step = self.state.step_index
        held = self.obs.held
        if held is None or held.kind is not kind:
            self.hooks.append(HookPoint(kind, step, weight))
            return True
        self.update(message=f"holding at step {step}: {held.reason}")
        if held.failed:
            self.notify(AlertEvent.HOOK_FAILED, f"holding: {held.reason}")
        return False

    def retire(self, version: str | None, after: float) -> None:
        """A managed version no longer wanted: scaled to zero ``after`` seconds from now."""
        if version is None or self.rollout.spec.workload.managed is None:
            return
        kept = dict(list(self.state.retiring.items())[-MAX_RETIRING + 1 :])
        self.update(retiring={**kept, version: self.obs.now + after})

    def tell_hooks(self, kind: HookKind, weight: int) -> None:
        """Record an outcome the spec's ``kind`` hooks are told about."""
        if self.rollout.hooks_of(kind):
            self.hooks.append(HookPoint(kind, self.state.step_index, weight))

    # ---- transitions ---------------------------------------------------------------
    def start(self, version: str) -> None:
        rollout = self.rollout
        revision = f"{version}@{self.obs.spec_hash[:12]}"
        self.update(
            canary_version=version,
            revision=revision,
            spec_hash=self.obs.spec_hash,
            commit=self.obs.commit,
            step_index=0,
            step_started_at=None,
            rollout_started_at=self.obs.now,
            canary_traffic_since=None,
            canary_weight=0,
            analysis={},
            inconclusive_streak=0,
            last_verdict=None,
            retiring={v: at for v, at in self.state.retiring.items() if v != version},
            kept_stable=None,
        )
        self.set_phase(Phase.WAITING, f"waiting for {rollout.deployment_for(version)} to be ready")
        self.event("RolloutStarted", f"rolling out {version} (stable {self.state.stable_version})")
        self.notify(
            AlertEvent.STARTED, f"rolling out {version}, replacing {self.state.stable_version}"
        )

    def end_with_stable(self, phase: Phase, reason: str, message: str, *, remember: bool) -> None:
        """All traffic on stable at once, the canary destination dropped."""
        stable = self.state.stable_version
        assert stable is not None
        version = self.state.canary_version
        event = AlertEvent.FAILED if phase is Phase.FAILED else AlertEvent.ROLLED_BACK
        evidence = self.last_evidence() if reason in ("AnalysisFailed", "Inconclusive") else ()
        if reason != "Superseded":
            self.notify(event, message, evidence)
            self.tell_hooks(HookKind.ROLLBACK, self.state.canary_weight)
        self.route(stable, None, 0)
        managed = self.rollout.spec.workload.managed
        self.retire(version, seconds(managed.scale_down_delay) if managed else 0.0)
        changes: dict[str, Any] = {"canary_version": None, "canary_traffic_since": None}
        if remember and version is not None:
            changes["failed"] = FailedRevision(
                version=version, spec_hash=self.state.spec_hash, reason=message, at=self.obs.now
            )
        self.set_phase(phase, message)
        self.update(**changes)
        self.event(reason, message, warning=True)

    def last_evidence(self) -> tuple[Evidence, ...]:
        verdict = self.obs.verdict
        if verdict is None:
            return ()
        failing = tuple(e for e in verdict.evidence if e.outcome is not Outcome.PASS)
        return failing or verdict.evidence

    def promote(self) -> None:
        version = self.state.canary_version
        previous = self.state.stable_version
        assert version is not None and previous is not None
        self.set_phase(Phase.SUCCEEDED, f"{version} promoted, replacing {previous}")
        self.notify(AlertEvent.PROMOTED, f"{version} promoted to stable, replacing {previous}")
        self.tell_hooks(HookKind.POST_PROMOTION, 100)
        self.route(version, None, 0)
        managed = self.rollout.spec.workload.managed
        self.retire(previous, seconds(managed.keep_stable) if managed else 0.0)
        self.update(
            stable_version=version,
            canary_version=None,
            canary_traffic_since=None,
            failed=None,
            kept_stable=previous if managed else None,
        )
        self.event("Promoted", f"{version} is now stable")

    def keep_window_open(self) -> bool:
        """A promotion replaced a managed stable whose keep window is still running."""
        kept = self.state.kept_stable
        return kept is not None and self.state.retiring.get(kept, 0.0) > self.obs.now

    def restore_kept(self, by: str) -> bool:
        """An abort after a promotion, inside the old stable's keep window: all traffic
        back on it at once, the promoted version failed (not rolled out again until the
        spec changes or a retry) and retired. The coordinator first gives the old stable
        its replicas back and holds (a ``rollback`` hold) until they are ready: False then,
        and the command waits."""
        kept, current = self.state.kept_stable, self.state.stable_version
        assert kept is not None and current is not None
        held = self.obs.held
        if held is not None and held.kind is HookKind.ROLLBACK:
            self.update(message=f"abort by {by}: {held.reason}")
            return False
        message = f"aborted by {by} inside {kept}'s keep window: traffic back on {kept}"
        self.notify(AlertEvent.ROLLED_BACK, message)
        self.tell_hooks(HookKind.ROLLBACK, 100)
        self.route(kept, None, 0)
        managed = self.rollout.spec.workload.managed
        self.update(
            stable_version=kept,
            kept_stable=None,
            retiring={v: at for v, at in self.state.retiring.items() if v != kept},
            failed=FailedRevision(
                version=current, spec_hash=self.obs.spec_hash, reason=message, at=self.obs.now
            ),
        )
        self.retire(current, seconds(managed.scale_down_delay) if managed else 0.0)
        self.set_phase(Phase.ROLLED_BACK, message)
        self.event("Aborted", message, warning=True)
        return True

    def done(self) -> Decision:
        """The decision: the state (its sent-alert list bounded) and the effects."""
        self.update(alerts_sent=self.state.alerts_sent[-MAX_SENT_ALERTS:])
        return Decision(self.state, tuple(self.effects), tuple(self.hooks))
