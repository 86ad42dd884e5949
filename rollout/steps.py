"""Walking a progressing rollout's steps: verdicts, holds, pauses, weights and promotion.

Pure (no I/O, no clock): part of the decision core, called by :func:`rollout.decide.decide`
for a rollout under way. A failed verdict, or too many inconclusive ticks in a row, ends
the rollout on stable at once; otherwise the steps advance as far as time, verdicts and
manual gates allow, and the canary is promoted when the steps are done and the verdict is
promotable. A ``setWeight: 100`` is given only on a promotable verdict.
"""

from __future__ import annotations

from typing import Any

from rollout.analysis.verdicts import Outcome
from rollout.spec.alerts import AlertEvent
from rollout.spec.base import seconds
from rollout.spec.hooks import HookKind
from rollout.spec.rollout import Rollout, Step
from rollout.state import Phase, VerdictRecord
from rollout.tick import Tick

__all__ = ["progress"]


def _record_verdict(tick: Tick) -> Outcome | None:
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


def _walk_steps(tick: Tick, rollout: Rollout, outcome: Outcome | None) -> None:
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
            if _leaning_worse(tick, step):
                tick.set_phase(
                    Phase.PROGRESSING,
                    f"holding at step {index}: the evidence leans towards the canary being "
                    "worse; waiting for more requests",
                )
                return
            if _needs_evidence(tick, rollout, step):
                tick.set_phase(
                    Phase.PROGRESSING,
                    f"holding at step {index}: waiting for evidence that the canary is "
                    "within its SLOs",
                )
                return
            if step.set_weight == 100 and not _promotable(tick, rollout, outcome):
                # all traffic on the canary leaves stable idle, and the comparison with it
                # can then never conclude: 100% is given only on a promotable verdict
                _wait_for_promotable(tick, rollout, f"before step {index} (100%)")
                return
            raising = step.set_weight > tick.state.canary_weight
            if raising and not tick.pass_gate(HookKind.CONFIRM_STEP, step.set_weight):
                return
            if step.set_weight != tick.state.canary_weight:
                tick.route(stable, canary, step.set_weight)
                if tick.state.canary_traffic_since is None and step.set_weight > 0:
                    tick.update(canary_traffic_since=now)
            tick.update(step_index=index + 1, step_started_at=now)
            tick.notify(AlertEvent.STEP_ADVANCED, f"canary weight set to {step.set_weight}%")
            continue
        if step.kind in ("setHeaderRoute", "setMirror"):
            # the managed routes follow the steps done (spec.routing.routing_at), sent with the
            # weights as they are
            tick.route(stable, canary, tick.state.canary_weight)
            tick.update(step_index=index + 1, step_started_at=now)
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


def _needs_evidence(tick: Tick, rollout: Rollout, step: Step) -> bool:
    """Whether raising the weight to ``step`` still waits for evidence of the SLOs.

    The first weight above 0 never waits (without traffic there is no evidence), nor does
    a step that says so, nor a rollout without policies.
    """
    current = tick.state.canary_weight
    if step.set_weight is None or step.set_weight <= current or current == 0:
        return False
    if not step.needs_evidence or not rollout.spec.analysis.policies:
        return False
    verdict = tick.obs.verdict
    return verdict is None or not verdict.within_slo


def _leaning_worse(tick: Tick, step: Step) -> bool:
    """Whether raising the weight to ``step`` waits because the data lean towards "worse".

    Even a step that raises the weight on time alone (``requireEvidence: false``) does not
    send more traffic to a canary whose rejection evidence is in its grey zone; the grey
    zone ends in bounded time (a rollback, or a bounded number of further canary requests:
    ``rollout/analysis/count_check.py``).
    """
    current = tick.state.canary_weight
    if step.set_weight is None or step.set_weight <= current or current == 0:
        return False
    verdict = tick.obs.verdict
    return verdict is not None and verdict.leaning_worse


def _hold_seconds(step: Step) -> float:
    if step.pause is not None and step.pause.duration is not None:
        return seconds(step.pause.duration)
    assert step.analyze is not None
    return seconds(step.analyze.duration)


def _promotable(tick: Tick, rollout: Rollout, outcome: Outcome | None) -> bool:
    verdict = tick.obs.verdict
    if not rollout.spec.analysis.policies:
        return True
    return verdict is not None and verdict.promotable and outcome is Outcome.PASS


def _wait_for_promotable(tick: Tick, rollout: Rollout, where: str) -> None:
    verdict = tick.obs.verdict
    needed = rollout.spec.analysis.min_sample_size
    seen = verdict.canary_requests if verdict else 0
    tick.set_phase(
        Phase.PROMOTING,
        f"waiting for a promotable verdict {where} ({seen:.0f} of {needed} canary requests)",
    )


def _finish(tick: Tick, rollout: Rollout, outcome: Outcome | None) -> None:
    """Every step is done: promote on a promotable verdict, otherwise wait for one.

    A canary already at 100% (steps after a ``setWeight: 100``, such as a bake time) was
    found promotable before it got there; since then only a plain pass is needed, as the
    idle stable version gives the comparison nothing new.
    """
    at_full = tick.state.canary_weight == 100 and outcome is Outcome.PASS
    if at_full or _promotable(tick, rollout, outcome):
        if tick.pass_gate(HookKind.CONFIRM_PROMOTION, 100):
            tick.promote()
        return
    _wait_for_promotable(tick, rollout, "after the last step")


def progress(tick: Tick, rollout: Rollout) -> None:
    """One tick of a rollout under way: wait for the canary, judge, walk the steps."""
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
        if not tick.pass_gate(HookKind.PRE_ROLLOUT, 0):
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
