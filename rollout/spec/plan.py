"""What a rollout will do, step by step, and how long it takes at the least.

``rollout plan`` prints this so a person can check a spec before pushing it. Pure.
"""

from __future__ import annotations

import dataclasses

from rollout.spec.base import seconds
from rollout.spec.durations import format_duration
from rollout.spec.hooks import HookKind
from rollout.spec.rollout import Rollout

__all__ = ["Plan", "PlannedStep", "plan"]


@dataclasses.dataclass(frozen=True)
class PlannedStep:
    index: int
    description: str
    weight: int
    min_seconds: float
    manual: bool


@dataclasses.dataclass(frozen=True)
class Plan:
    steps: tuple[PlannedStep, ...]
    implied_promotion: bool
    shortest_seconds: float
    manual_gates: int
    min_sample_size: int
    hooks: tuple[str, ...] = ()
    """One line per hook: its kind, name, when it is called and what a failure does."""
    workloads: tuple[str, ...] = ()
    """How managed versions are made and sized (empty when they are made by hand)."""

    def lines(self) -> list[str]:
        rows = [f"{'step':>4}  {'weight':>6}  {'holds at least':<14}  what"]
        for step in self.steps:
            hold = "until promoted" if step.manual else format_duration(step.min_seconds)
            rows.append(f"{step.index:>4}  {step.weight:>5}%  {hold:<14}  {step.description}")
        if self.implied_promotion:
            rows.append(f"{'':>4}  {100:>5}%  {'-':<14}  full promotion (implied)")
        total = format_duration(self.shortest_seconds)
        rows.append("")
        rows.append(
            f"shortest time to full promotion: {total}"
            + (f", plus {self.manual_gates} manual promotion(s)" if self.manual_gates else "")
        )
        rows += [
            "at every tick a failing check rolls back and an undecided one holds the weight;",
            "a pass means 'not shown worse so far': a raise waits (unless requireEvidence: false)",
            "until the evidence shows the canary within its SLOs, and 100% and promotion wait",
            f"for a promotable verdict: shown within the SLOs, at least {self.min_sample_size} "
            "canary requests,",
            "and the evidence not leaning towards a worse canary",
        ]
        if self.hooks:
            rows += ["", "hooks:", *self.hooks]
        if self.workloads:
            rows += ["", "managed versions:", *self.workloads]
        return rows


def _workload_lines(rollout: Rollout, weights: list[int]) -> tuple[str, ...]:
    managed = rollout.spec.workload.managed
    if managed is None:
        return ()
    sizes = ", ".join(f"{w}%: {managed.canary_replicas(w)}" for w in sorted(set(weights)) if w)
    if managed.autoscaler is None:
        sizing = (
            f"  stable: {managed.replicas} replicas; canary replicas by weight ({sizes}), at "
            f"least {managed.min_replicas}; a raise waits until they are ready"
        )
    else:
        sizing = (
            f"  stable: sized by the HorizontalPodAutoscaler {managed.autoscaler}, whose "
            f"target is moved to each new stable before the old one is scaled down; canary "
            f"replicas: the weight's share of the stable's, at least {managed.min_replicas} "
            f"(of {managed.replicas}: {sizes}); a raise waits until they are ready"
        )
    return (
        f"  each version's Deployment ({rollout.deployment_for('<version>')}) is made from "
        f"{managed.template} with the image {managed.image}",
        sizing,
        f"  after a promotion the old stable keeps its replicas for "
        f"{format_duration(seconds(managed.keep_stable))} (an abort within it puts the "
        f"traffic back on it), then is scaled to 0; a rolled-back "
        f"canary is scaled to 0 after {format_duration(seconds(managed.scale_down_delay))}",
    )


def _hook_lines(rollout: Rollout) -> tuple[str, ...]:
    lines = []
    for hook in rollout.spec.hooks:
        attempts = f"{hook.retries + 1} attempt(s) of {format_duration(seconds(hook.timeout))}"
        if hook.type.gate:
            outcome = "a no, a timeout or an unreachable receiver holds"
        elif hook.type is HookKind.LOAD:
            outcome = "not waited on"
        else:
            outcome = "a failure is reported (an Event and a hookFailed alert)"
        lines.append(f"  {hook.type} {hook.name}: {hook.type.when}; {attempts}; {outcome}")
    return tuple(lines)


def plan(rollout: Rollout) -> Plan:
    steps: list[PlannedStep] = []
    weight = 0
    total = 0.0
    gates = 0
    for index, step in enumerate(rollout.spec.steps):
        manual = False
        hold = 0.0
        if step.set_weight is not None:
            weight = step.set_weight
            description = f"set the canary weight to {weight}%"
        elif step.pause is not None:
            if step.pause.duration is None:
                manual = True
                gates += 1
                description = "pause until a person promotes"
            else:
                hold = seconds(step.pause.duration)
                description = f"pause for {format_duration(hold)}"
        elif step.set_header_route is not None:
            description = step.set_header_route.describe()
        elif step.set_mirror is not None:
            description = step.set_mirror.describe()
        else:
            assert step.analyze is not None
            hold = seconds(step.analyze.duration)
            description = f"analyse for {format_duration(hold)}, then go on unless held"
        total += hold
        steps.append(PlannedStep(index, description, weight, hold, manual))
    return Plan(
        steps=tuple(steps),
        implied_promotion=weight < 100,
        shortest_seconds=total,
        manual_gates=gates,
        min_sample_size=rollout.spec.analysis.min_sample_size,
        hooks=_hook_lines(rollout),
        workloads=_workload_lines(rollout, [*rollout.planned_weights(), 100]),
    )
