"""The decision core: from (spec, state, observations, now) to the next state and effects.

Pure: no I/O, no clock (``now`` comes in with the observations). Every rollout can then be
replayed tick by tick in a test, and the detection benchmark drives this very code in
virtual time.

One tick, in order:
0. no state (first sight, or a Rollout recreated or whose status was lost): adopt what
   the live routes say (:mod:`rollout.adoption`), never the spec's version;
1. the spec was deleted: revert to stable or leave as is, per ``spec.onDelete``;
2. a person's command (promote, promote fully, abort, retry) is applied and recorded;
3. a new version while a rollout is under way: all traffic back to stable, start over;
4. no rollout under way and the desired version is not stable: start one, unless that
   version already failed with this very spec (then wait for a spec change or a retry);
5. waiting for the canary: ready within the progress deadline, or fail;
6. progressing: a failed verdict, or too many inconclusive ticks in a row, roll back at once
   (all traffic to stable); otherwise walk the steps as far as time, verdicts and manual
   gates allow, and promote when the steps are done and the verdict is promotable.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from rollout import adoption
from rollout.adoption import LiveRoutes
from rollout.analysis.verdicts import Evidence, Outcome, Verdict
from rollout.effects import Effect, RecordEvent, SetWeights
from rollout.events import Notification
from rollout.spec.base import seconds
from rollout.spec.rollout import AlertEvent, OnDelete, Rollout, Step
from rollout.state import (
    MAX_COMMAND_HISTORY,
    MAX_SENT_ALERTS,
    Command,
    FailedRevision,
    PendingAlert,
    Phase,
    RolloutState,
    VerdictRecord,
)


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


@dataclasses.dataclass(frozen=True)
class Decision:
    state: RolloutState
    effects: tuple[Effect, ...]

    @property
    def weights(self) -> SetWeights | None:
        found = [e for e in self.effects if isinstance(e, SetWeights)]
        return found[-1] if found else None


class _Tick:
    """The working state of one decision; collects effects and notifications."""

    def __init__(self, rollout: Rollout, state: RolloutState, obs: Observations) -> None:
        self.rollout = rollout
        self.state = state
        self.obs = obs
        self.effects: list[Effect] = []

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
        self.route(stable, None, 0)
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
        self.route(version, None, 0)
        self.update(
            stable_version=version, canary_version=None, canary_traffic_since=None, failed=None
        )
        self.event("Promoted", f"{version} is now stable")


def _apply_command(tick: _Tick) -> bool:
    """Apply a new command; True when it decided the tick."""
    command = tick.obs.command
    state = tick.state
    if command is None or state.command_seen(command.id):
        return False
    result = "ignored: no rollout under way"
    decided = False
    if command.action == "retry":
        if state.failed is not None:
            result = f"retrying {state.failed.version}"
            tick.update(failed=None)
        else:
            result = "ignored: nothing failed"
    elif state.phase.active and command.action == "abort":
        tick.end_with_stable(
            Phase.ROLLED_BACK, "Aborted", f"aborted by {command.by}", remember=True
        )
        result = "aborted"
        decided = True
    elif state.phase.active and command.action in ("promote", "promote-full"):
        if state.phase is Phase.WAITING:
            result = "ignored: the canary is not ready yet"
        elif command.action == "promote-full":
            tick.promote()
            result = "promoted fully"
            decided = True
        else:
            tick.update(step_index=state.step_index + 1, step_started_at=tick.obs.now)
            result = f"promoted past step {state.step_index}"
    recorded = command.model_copy(update={"result": result})
    history = [*tick.state.commands, recorded][-MAX_COMMAND_HISTORY:]
    tick.update(commands=history)
    tick.event("Command", f"{command.action} by {command.by}: {result}")
    return decided


def _record_verdict(tick: _Tick) -> Outcome | None:
    verdict = tick.obs.verdict
    if verdict is None:
        if tick.state.canary_weight > 0:
            return Outcome.INCONCLUSIVE
        return None
    record = VerdictRecord(
        outcome=verdict.outcome.value,
        reason=verdict.reason,
        at=tick.obs.now,
        canary_requests=verdict.canary_requests,
        promotable=verdict.promotable,
        evidence=[e.as_dict() for e in verdict.evidence],
    )
    changes: dict[str, Any] = {"last_verdict": record}
    if tick.obs.analysis_state is not None:
        changes["analysis"] = tick.obs.analysis_state
    tick.update(**changes)
    return verdict.outcome


def _walk_steps(tick: _Tick, rollout: Rollout, outcome: Outcome | None) -> None:
    """Advance through as many steps as time, verdicts and gates allow."""
    steps = rollout.spec.steps
    now = tick.obs.now
    canary = tick.state.canary_version
    stable = tick.state.stable_version
    assert canary is not None and stable is not None
    held = outcome is Outcome.INCONCLUSIVE
    while tick.state.step_index < len(steps):
        index = tick.state.step_index
        step = steps[index]
        started = tick.state.step_started_at if tick.state.step_started_at is not None else now
        if step.set_weight is not None:
            if step.set_weight > tick.state.canary_weight and held:
                tick.set_phase(Phase.PROGRESSING, f"holding at step {index}: analysis inconclusive")
                return
            if step.set_weight == 100 and not _promotable(tick, rollout, outcome):
                # all traffic on the canary leaves stable idle, and the comparison with it
                # can then never conclude: 100% is given only on a promotable verdict
                _wait_for_promotable(tick, rollout, f"before step {index} (100%)")
                return
            if step.set_weight != tick.state.canary_weight:
                tick.route(stable, canary, step.set_weight)
                if tick.state.canary_traffic_since is None and step.set_weight > 0:
                    tick.update(canary_traffic_since=now)
            tick.update(step_index=index + 1, step_started_at=now)
            tick.notify(AlertEvent.STEP_ADVANCED, f"canary weight set to {step.set_weight}%")
            continue
        if step.pause is not None and step.pause.duration is None:
            tick.set_phase(Phase.PAUSED, f"paused at step {index} until promoted")
            tick.notify(AlertEvent.PAUSED, f"paused at {tick.state.canary_weight}% until promoted")
            return
        duration = _hold_seconds(step)
        tick.update(step_started_at=started)
        waiting = now - started
        if waiting < duration:
            kind = "paused" if step.pause else "analysing"
            tick.set_phase(
                Phase.PROGRESSING,
                f"step {index}: {kind} at {tick.state.canary_weight}% "
                f"({waiting:.0f}s of {duration:.0f}s)",
            )
            return
        if held:
            tick.set_phase(Phase.PROGRESSING, f"holding at step {index}: analysis inconclusive")
            return
        tick.update(step_index=index + 1, step_started_at=now)
    _finish(tick, rollout, outcome)


def _hold_seconds(step: Step) -> float:
    if step.pause is not None and step.pause.duration is not None:
        return seconds(step.pause.duration)
    assert step.analyze is not None
    return seconds(step.analyze.duration)


def _promotable(tick: _Tick, rollout: Rollout, outcome: Outcome | None) -> bool:
    verdict = tick.obs.verdict
    if not rollout.spec.analysis.policies:
        return True
    return verdict is not None and verdict.promotable and outcome is Outcome.PASS


def _wait_for_promotable(tick: _Tick, rollout: Rollout, where: str) -> None:
    verdict = tick.obs.verdict
    needed = rollout.spec.analysis.min_sample_size
    seen = verdict.canary_requests if verdict else 0
    tick.set_phase(
        Phase.PROMOTING,
        f"waiting for a promotable verdict {where} ({seen:.0f} of {needed} canary requests)",
    )


def _finish(tick: _Tick, rollout: Rollout, outcome: Outcome | None) -> None:
    """Every step is done: promote on a promotable verdict, otherwise wait for one.

    A canary already at 100% (steps after a ``setWeight: 100``, such as a bake time) was
    found promotable before it got there; since then only a plain pass is needed, as the
    idle stable version gives the comparison nothing new.
    """
    at_full = tick.state.canary_weight == 100 and outcome is Outcome.PASS
    if at_full or _promotable(tick, rollout, outcome):
        tick.promote()
        return
    _wait_for_promotable(tick, rollout, "after the last step")


def _progress(tick: _Tick, rollout: Rollout) -> None:
    state = tick.state
    obs = tick.obs
    analysis = rollout.spec.analysis
    if state.phase is Phase.WAITING:
        if not obs.canary_ready:
            waited = obs.now - (state.rollout_started_at or obs.now)
            if waited > rollout.progress_deadline_seconds:
                tick.end_with_stable(
                    Phase.FAILED,
                    "ProgressDeadlineExceeded",
                    f"{rollout.deployment_for(state.canary_version or '?')} was not ready "
                    f"within {rollout.spec.progress_deadline}: {obs.readiness_message}",
                    remember=True,
                )
            return
        tick.set_phase(Phase.PROGRESSING, "canary ready")
        tick.update(step_index=0, step_started_at=obs.now)
    outcome = _record_verdict(tick)
    if outcome is Outcome.FAIL:
        verdict = obs.verdict
        reason = verdict.reason if verdict else "analysis failed"
        tick.end_with_stable(
            Phase.ROLLED_BACK, "AnalysisFailed", f"rolled back: {reason}", remember=True
        )
        return
    if outcome is Outcome.INCONCLUSIVE:
        streak = tick.state.inconclusive_streak + 1
        tick.update(inconclusive_streak=streak)
        tick.notify(
            AlertEvent.INCONCLUSIVE,
            f"analysis inconclusive: {obs.verdict.reason if obs.verdict else 'no verdict'}",
            tick.last_evidence(),
        )
        if streak >= analysis.max_inconclusive:
            tick.end_with_stable(
                Phase.ROLLED_BACK,
                "Inconclusive",
                f"rolled back: analysis inconclusive for {streak} ticks in a row",
                remember=True,
            )
            return
    else:
        tick.update(inconclusive_streak=0)
    if tick.state.phase is Phase.PAUSED and tick.state.step_index < len(rollout.spec.steps):
        step = rollout.spec.steps[tick.state.step_index]
        if step.pause is not None and step.pause.duration is None:
            return
    _walk_steps(tick, rollout, outcome)


def decide(
    rollout: Rollout, state: RolloutState, obs: Observations, *, deleted: bool = False
) -> Decision:
    """The next state and the effects for one tick of one rollout.

    ``deleted`` says the spec is gone; ``rollout`` is then its last valid version, whose
    ``onDelete`` says whether to revert to stable or leave traffic as it is.
    """
    tick = _Tick(rollout, state, obs)
    if deleted:
        _spec_deleted(tick, rollout)
    else:
        _advance(tick, rollout)
        # judged last, so its one alert carries the revision this tick settled on
        _spec_validity(tick)
    return _done(tick)


def _advance(tick: _Tick, rollout: Rollout) -> None:
    obs = tick.obs
    if tick.state.spec_deleted:
        tick.update(spec_deleted=False)
    desired = rollout.spec.version
    if tick.state.stable_version is None:
        _adopt(tick, rollout)
        return
    if _apply_command(tick):
        return
    active = tick.state.phase.active
    canary = tick.state.canary_version
    if active and canary is not None and canary != desired:
        superseded = f"{canary} superseded by {desired} before it finished"
        tick.end_with_stable(Phase.SUCCEEDED, "Superseded", superseded, remember=False)
        active = False
    failed = tick.state.failed
    if not active and desired != tick.state.stable_version:
        if failed and failed.version == desired and failed.spec_hash == obs.spec_hash:
            return
        tick.start(desired)
    elif not active and desired == tick.state.stable_version and tick.state.failed:
        _spec_back_on_stable(tick, tick.state.failed.version)
    if tick.state.phase.active:
        _progress(tick, rollout)


def _adopt(tick: _Tick, rollout: Rollout) -> None:
    """No state: adopt what the live routes (and their record) say, never the spec's
    version; the next tick decides from there (see :mod:`rollout.adoption`)."""
    obs = tick.obs
    found = adoption.adopt(
        rollout, obs.live, tick.state, now=obs.now, spec_hash=obs.spec_hash, commit=obs.commit
    )
    if found.state is None:
        # paused, not succeeded: nothing is known to be stable, and a person may have to
        # act (Argo CD shows it as Suspended)
        if tick.state.message != found.message:
            tick.event(found.reason, f"not adopted: {found.message}", warning=True)
        tick.set_phase(Phase.PAUSED, found.message)
        tick.state = tick.state.with_condition(
            "Adopted", "False", found.reason, found.message, obs.now
        )
        return
    tick.state = found.state.model_copy(
        update={"conditions": [c for c in found.state.conditions if c.type != "Adopted"]}
    )
    if found.weights is not None:
        weights = found.weights
        tick.route(weights.stable_version, weights.canary_version, weights.canary_weight)
    tick.event(found.reason, found.message)


def _spec_back_on_stable(tick: _Tick, failed_version: str) -> None:
    """The spec asks for the stable version again (reverted in Git, by hand or by the
    controller's write-back): the failure is settled and the rollout is healthy."""
    tick.update(failed=None)
    if tick.state.phase in (Phase.ROLLED_BACK, Phase.FAILED):
        stable = tick.state.stable_version
        tick.set_phase(
            Phase.SUCCEEDED, f"{stable} is stable; the spec no longer asks for {failed_version}"
        )
        tick.event("SpecReverted", f"the spec asks for the stable version {stable} again")


def _spec_validity(tick: _Tick) -> None:
    """An invalid newer spec: a condition, an event and one alert; the last valid spec runs."""
    problems = tick.obs.spec_problems
    current = tick.state.condition("SpecValid")
    if not problems:
        if current is not None and current.status == "False":
            tick.update(conditions=[c for c in tick.state.conditions if c.type != "SpecValid"])
            tick.event("SpecValid", "the spec in the source is valid again")
        return
    message = "; ".join(problems)
    if current is None or current.message != message:
        tick.event("SpecInvalid", f"keeping the last valid spec: {message}", warning=True)
    tick.state = tick.state.with_condition(
        "SpecValid", "False", "InvalidSpec", message, tick.obs.now
    )
    tick.notify(
        AlertEvent.SPEC_INVALID, f"the new spec is invalid, keeping the last valid one: {message}"
    )


def _spec_deleted(tick: _Tick, rollout: Rollout) -> None:
    state = tick.state
    if state.spec_deleted:
        return
    tick.update(spec_deleted=True)
    if state.stable_version is None:  # never adopted: no traffic of ours to revert
        tick.set_phase(Phase.SUCCEEDED, "spec deleted before the rollout was adopted")
        return
    if not state.phase.active:
        return
    if rollout.spec.on_delete is OnDelete.REVERT:
        tick.end_with_stable(
            Phase.ROLLED_BACK,
            "SpecDeleted",
            "spec deleted mid-rollout: reverted to stable",
            remember=False,
        )
    else:
        tick.event("SpecDeleted", "spec deleted mid-rollout: traffic left as it is")
        tick.set_phase(Phase.PAUSED, "spec deleted mid-rollout: traffic left as it is")


def _done(tick: _Tick) -> Decision:
    sent = tick.state.alerts_sent[-MAX_SENT_ALERTS:]
    tick.update(alerts_sent=sent)
    return Decision(tick.state, tuple(tick.effects))


def mark_sent(state: RolloutState, keys: list[str]) -> RolloutState:
    """Move delivered (or given up) alerts from the outbox to the sent list."""
    done = set(keys)
    outbox = [a for a in state.outbox if a.key not in done]
    sent = [*state.alerts_sent, *[k for k in keys if k not in state.alerts_sent]]
    return state.model_copy(update={"outbox": outbox, "alerts_sent": sent[-MAX_SENT_ALERTS:]})
