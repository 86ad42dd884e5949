"""The decision core: from (spec, state, observations, now) to the next state and effects.

Pure: no I/O, no clock (``now`` comes in with the observations). Every rollout can then be
replayed tick by tick in a test, and the detection benchmark drives this very code in
virtual time.

One tick, in order:
0. no state (first sight, or a Rollout recreated or whose status was lost): adopt what
   the live routes say (:mod:`rollout.adoption`), never the spec's version;
1. the spec was deleted: revert to stable or leave as is, per ``spec.onDelete``;
2. a person's command (promote, promote fully, abort, retry) is applied and recorded (an
   abort after a promotion, inside the old stable's keep window, puts it back: it waits
   until the old stable's replicas are ready);
3. a new version while a rollout is under way: all traffic back to stable, start over;
4. no rollout under way and the desired version is not stable: start one, unless that
   version already failed with this very spec (then wait for a spec change or a retry);
5. waiting for the canary: ready within the progress deadline, or fail;
6. progressing: a failed verdict, or too many inconclusive ticks in a row, roll back at once
   (all traffic to stable); otherwise walk the steps as far as time, verdicts and manual
   gates allow, and promote when the steps are done and the verdict is promotable
   (:mod:`rollout.steps`).

The working state of a tick, with its transitions, is :class:`rollout.tick.Tick`.
"""

from __future__ import annotations

from rollout import adoption
from rollout.spec.alerts import AlertEvent
from rollout.spec.rollout import OnDelete, Rollout
from rollout.state import MAX_COMMAND_HISTORY, MAX_SENT_ALERTS, Phase, RolloutState
from rollout.steps import progress
from rollout.tick import Decision, Observations, Tick

__all__ = ["Decision", "Observations", "decide", "mark_sent"]


def decide(
    rollout: Rollout, state: RolloutState, obs: Observations, *, deleted: bool = False
) -> Decision:
    """The next state and the effects for one tick of one rollout.

    ``deleted`` says the spec is gone; ``rollout`` is then its last valid version, whose
    ``onDelete`` says whether to revert to stable or leave traffic as it is.
    """
    tick = Tick(rollout, state, obs)
    if deleted:
        _spec_deleted(tick, rollout)
    else:
        _advance(tick, rollout)
        # judged last, so its one alert carries the revision this tick settled on
        _spec_validity(tick)
    return tick.done()


def _advance(tick: Tick, rollout: Rollout) -> None:
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
        progress(tick, rollout)


def _apply_command(tick: Tick) -> bool:
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
    elif command.action == "abort" and tick.keep_window_open():
        if not tick.restore_kept(command.by):
            return True  # held until the old stable is ready again: the command waits
        result = f"aborted: traffic back on {tick.state.stable_version}"
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


def _adopt(tick: Tick, rollout: Rollout) -> None:
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


def _spec_back_on_stable(tick: Tick, failed_version: str) -> None:
    """The spec asks for the stable version again (reverted in Git, by hand or by the
    controller's write-back): the failure is settled and the rollout is healthy."""
    tick.update(failed=None)
    if tick.state.phase in (Phase.ROLLED_BACK, Phase.FAILED):
        stable = tick.state.stable_version
        tick.set_phase(
            Phase.SUCCEEDED, f"{stable} is stable; the spec no longer asks for {failed_version}"
        )
        tick.event("SpecReverted", f"the spec asks for the stable version {stable} again")


def _spec_validity(tick: Tick) -> None:
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


def _spec_deleted(tick: Tick, rollout: Rollout) -> None:
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


def mark_sent(state: RolloutState, keys: list[str]) -> RolloutState:
    """Move alerts from the outbox to the sent list: the coordinator does it in the status
    write that comes before it hands them to the dispatcher."""
    done = set(keys)
    outbox = [a for a in state.outbox if a.key not in done]
    sent = [*state.alerts_sent, *[k for k in keys if k not in state.alerts_sent]]
    return state.model_copy(update={"outbox": outbox, "alerts_sent": sent[-MAX_SENT_ALERTS:]})
