"""Asking and telling a rollout's hooks around one decision, through the ``HookCaller`` port.

The decision core records the hook points a decision passes (``Decision.hooks``): the
gates it went through (``pre-rollout``, ``confirm-step``, ``confirm-promotion``) and the
outcomes to tell (``post-promotion``, ``rollback``). The coordinator asks the gates
before it applies anything (:func:`first_hold`: the first hook that does not say yes
holds its move, and the tick is decided again with that hold); it tells the outcomes
once the state that holds them is saved (:func:`tell`), and nudges the ``load`` hooks
while the canary waits for evidence (:func:`nudge_load`).

No I/O of its own: every call goes through the port, so this module sits with the seams.
"""

from __future__ import annotations

from rollout.analysis.verdicts import Verdict
from rollout.events import Notification
from rollout.ports import AlertSink
from rollout.spec.alerts import AlertEvent
from rollout.spec.hooks import Hook, HookKind
from rollout.spec.rollout import Rollout
from rollout.state import Phase, RolloutState
from rollout.tick import Decision, HookHold, HookPoint
from rollout.version_ports import HookAnswer, HookCall, HookCaller

__all__ = ["Failure", "Unwired", "first_hold", "hook_call", "nudge_load", "tell"]

_WAITING_FOR_EVIDENCE = (Phase.PROGRESSING, Phase.PROMOTING)


def hook_call(
    rollout: Rollout, before: RolloutState, after: RolloutState, point: HookPoint
) -> HookCall:
    """What a hook at ``point`` is told: the versions as they were before the move (the
    canary is the one rolled out, also once it is promoted or rolled back), the step, the
    weight before and after, and the last verdict's evidence."""
    verdict = after.last_verdict
    return HookCall(
        kind=point.kind,
        namespace=rollout.namespace,
        rollout=rollout.name,
        stable_version=before.stable_version or after.stable_version,
        canary_version=after.canary_version or before.canary_version,
        step=point.step,
        weight=before.canary_weight,
        next_weight=point.weight,
        phase=after.phase.value,
        revision=after.revision or before.revision,
        evidence=tuple(verdict.evidence) if verdict is not None else (),
    )


def _said(hook: Hook, answer: HookAnswer) -> str:
    words = "no" if answer.outcome == "no" else "nothing"
    return f"{words} ({hook.name}: {answer.detail})" if answer.detail else f"{words} ({hook.name})"


def first_hold(
    caller: HookCaller, rollout: Rollout, before: RolloutState, decision: Decision
) -> HookHold | None:
    """Ask the gates ``decision`` passed, in order; the first that does not say yes, as a
    hold (None when every one said yes). Each hook of a kind is asked in the spec's order
    and the first no stops the asking."""
    for point in decision.hooks:
        if not point.kind.gate:
            continue
        call = hook_call(rollout, before, decision.state, point)
        for hook in rollout.hooks_of(point.kind):
            answer = caller.call(hook, call)
            if not answer.approved:
                reason = f"the {point.kind} hook said {_said(hook, answer)}"
                return HookHold(point.kind, reason, failed=answer.outcome == "failed")
    return None


class Failure:
    """A told hook that failed: the Event and the alert that report it."""

    def __init__(self, hook: Hook, answer: HookAnswer, call: HookCall) -> None:
        self.hook = hook
        self.message = f"the {hook.type} hook {hook.name} said {_said(hook, answer)}"
        self.call = call

    def notification(self, *, at: float) -> Notification:
        call = self.call
        return Notification(
            event=AlertEvent.HOOK_FAILED,
            rollout=call.rollout,
            namespace=call.namespace,
            from_version=call.stable_version,
            to_version=call.canary_version or "?",
            summary=self.message,
            step=None,
            weight=call.weight,
            revision=f"{call.revision}/{self.hook.type}/{self.hook.name}",
            at=at,
        )


def tell(
    caller: HookCaller,
    alerts: AlertSink,
    rollout: Rollout,
    before: RolloutState,
    decision: Decision,
    now: float,
) -> list[str]:
    """Tell the outcomes ``decision`` reached to their hooks; a failed call is alerted
    (``hookFailed``) and its message returned, for the Event that reports it."""
    failures: list[str] = []
    for point in decision.hooks:
        if point.kind.gate:
            continue
        call = hook_call(rollout, before, decision.state, point)
        for hook in rollout.hooks_of(point.kind):
            answer = caller.call(hook, call)
            if not answer.approved:
                failure = Failure(hook, answer, call)
                alerts.send(failure.notification(at=now), rollout.spec.alerts)
                failures.append(failure.message)
    return failures


def nudge_load(
    caller: HookCaller, rollout: Rollout, state: RolloutState, verdict: Verdict | None
) -> bool:
    """Start the ``load`` hooks while the canary has traffic and waits for evidence (no
    verdict yet that would promote it); whether any was started."""
    hooks = rollout.hooks_of(HookKind.LOAD)
    waiting = state.phase in _WAITING_FOR_EVIDENCE and state.canary_weight > 0
    if not hooks or not waiting or (verdict is not None and verdict.promotable):
        return False
    point = HookPoint(HookKind.LOAD, state.step_index, state.canary_weight)
    call = hook_call(rollout, state, state, point)
    for hook in hooks:
        caller.nudge(hook, call)
    return True


class Unwired:
    """The caller of a coordinator built without hooks: every gate fails, so a spec with
    hooks holds rather than moves unasked."""

    def call(self, hook: Hook, call: HookCall) -> HookAnswer:
        return HookAnswer("failed", "this controller calls no hooks")

    def nudge(self, hook: Hook, call: HookCall) -> None:
        return None

    def close(self) -> None:
        return None
