"""How ``rollout status`` shows a rollout: phase, versions, a weight bar, the last verdict.

Pure rendering from the Rollout resource's spec and status, so it is the same for one
rollout, for every rollout, and for each refresh of ``--watch``.
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

from rollout.kube.rollout_resource import PENDING_PHASE, RECONCILE_FAILED_PHASE, shown_phase
from rollout.kube.status_times import status_from_wire
from rollout.state import (
    PROGRESSING,
    READY,
    RECONCILED,
    Command,
    Phase,
    RolloutState,
    reconcile_failure,
)

BAR_WIDTH = 20
_PHASE_MARK = {
    Phase.SUCCEEDED: "✔",
    Phase.PROGRESSING: "▶",
    Phase.PROMOTING: "▶",
    Phase.WAITING: "…",
    Phase.PAUSED: "⏸",
    Phase.ROLLED_BACK: "↩",
    Phase.FAILED: "✘",
}
_PENDING_MARK = "○"
_FAILING_MARK = "!"
_SUMMARISED = (READY, PROGRESSING, RECONCILED)
WAITING_FOR_CONTROLLER = "waiting for a controller: no status has been recorded yet"


@dataclasses.dataclass(frozen=True)
class RolloutView:
    namespace: str
    name: str
    desired_version: str
    state: RolloutState
    observed: bool = True
    """False while the resource has no status: nothing has happened yet, nothing succeeded."""

    @classmethod
    def from_resource(cls, body: dict[str, Any]) -> RolloutView:
        metadata = body.get("metadata", {})
        return cls(
            namespace=metadata.get("namespace", "default"),
            name=metadata.get("name", "?"),
            desired_version=str(body.get("spec", {}).get("version", "?")),
            state=RolloutState.from_status(status_from_wire(body.get("status"))),
            observed=bool((body.get("status") or {}).get("phase")),
        )


def weight_bar(canary_weight: int, width: int = BAR_WIDTH) -> str:
    """``[████░░░░] 25%``: the canary's share of the traffic."""
    filled = round(width * canary_weight / 100)
    return f"[{'█' * filled}{'░' * (width - filled)}] {canary_weight:>3}%"


def _when(at: float) -> str:
    return datetime.datetime.fromtimestamp(at, datetime.UTC).strftime("%H:%M:%S")


def summary_line(view: RolloutView) -> str:
    state = view.state
    phase = shown_phase(state, observed=view.observed)
    mark = {PENDING_PHASE: _PENDING_MARK, RECONCILE_FAILED_PHASE: _FAILING_MARK}.get(
        phase, _PHASE_MARK.get(state.phase, "?")
    )
    canary = state.canary_version or "-"
    return (
        f"{view.namespace}/{view.name:<20} {mark} {phase:<16} "
        f"stable {state.stable_version or '-':<10} canary {canary:<10} "
        f"{weight_bar(state.canary_weight)}"
    )


def detail_lines(view: RolloutView) -> list[str]:
    state = view.state
    lines = [summary_line(view)]
    failure = reconcile_failure(state)
    if failure is not None:
        lines.append(
            f"    the controller fails on it since {_when(failure.last_transition_time)}: "
            f"{failure.reason}: {failure.message}"
        )
    if not view.observed:
        if failure is None:
            lines.append(f"    {WAITING_FOR_CONTROLLER}; desired version {view.desired_version}")
        return lines
    if state.message:
        lines.append(f"    {state.message}")
    if state.phase.active:
        lines.append(f"    step {state.step_index}, desired version {view.desired_version}")
    verdict = state.last_verdict
    if verdict is not None:
        lines.append(
            f"    last verdict {verdict.outcome} at {_when(verdict.at)}: {verdict.reason} "
            f"({verdict.canary_requests:.0f} canary requests)"
        )
        for item in verdict.evidence:
            lines.append("      " + evidence_line(item))
    if state.failed is not None:
        lines.append(
            f"    failed: {state.failed.version} at {_when(state.failed.at)}: {state.failed.reason}"
        )
    for condition in state.conditions:
        if condition.type in _SUMMARISED:
            continue  # the phase line and the failure line above say what these say
        if condition.status != "True" or condition.reason not in ("WeightsApplied",):
            lines.append(
                f"    condition {condition.type}={condition.status} "
                f"({condition.reason}) {condition.message}"
            )
    for command in _this_rollouts_commands(state)[-3:]:
        lines.append(
            f"    command {command.action} by {command.by} at {_when(command.at)}: {command.result}"
        )
    return lines


def _this_rollouts_commands(state: RolloutState) -> list[Command]:
    """The commands given since the latest rollout started: older ones belong to rollouts
    that are over and would read as if they applied now."""
    since = state.rollout_started_at
    if since is None:
        return list(state.commands)
    return [command for command in state.commands if command.at >= since]


def evidence_line(item: dict[str, Any]) -> str:
    """One check: ``✘ istio-error-ratio canary-vs-stable: 0.050 > 0.010 (n=40, p=0.001)``."""
    mark = {"pass": "✔", "fail": "✘"}.get(str(item.get("outcome")), "?")
    parts = [f"{mark} {item.get('policy', '?')} {item.get('check', '')}: {item.get('message', '')}"]
    numbers = []
    if "value" in item:
        numbers.append(f"value={item['value']:.4g}")
    if "threshold" in item:
        numbers.append(f"threshold={item['threshold']:.4g}")
    if "stableValue" in item or "stable_value" in item:
        numbers.append(f"stable={item.get('stableValue', item.get('stable_value')):.4g}")
    if "sample_size" in item:
        numbers.append(f"n={item['sample_size']:.0f}")
    if "p_value" in item:
        numbers.append(f"p={item['p_value']:.3g}")
    if numbers:
        # an inconclusive check was not judged this tick: its numbers are the counts so far
        so_far = "so far: " if item.get("outcome") == "inconclusive" else ""
        parts.append(f"({so_far}{', '.join(numbers)})")
    return " ".join(parts)
