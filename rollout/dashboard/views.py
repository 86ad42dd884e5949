"""What the dashboard's pages show, built from a stored Rollout: plain data for templates.

Pure: no I/O and no clock. A row of the list, the detail of one rollout (its steps and
where it stands, its timeline, its spec as applied) and one chart point all come from a
:class:`~rollout.ports.Stored` and the Kubernetes Events read beside it. Nothing secret
reaches a page: text under a key that names a URL, token, password, secret or auth is
shown as ``(redacted)`` (alert webhook URLs carry their credentials), while references to
where a secret lives (``secretRef``, ``env``) are shown as they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from rollout.ports import Stored
from rollout.spec.rollout import default_steps
from rollout.state import Command, RolloutState

__all__ = [
    "ChartPoint",
    "RolloutDetail",
    "RolloutRow",
    "StepView",
    "TimelineEntry",
    "chart_point",
    "detail",
    "pending_command",
    "redacted",
    "row",
    "rows",
]

REDACTED = "(redacted)"
_REFERENCES = ("secretRef", "env")
_SECRET_WORDS = ("url", "token", "password", "secret", "webhook", "auth", "apikey", "api_key")


@dataclass(frozen=True)
class RolloutRow:
    """One line of the list page."""

    namespace: str
    name: str
    phase: str
    stable_version: str
    canary_version: str
    desired_version: str
    canary_weight: int
    verdict: str
    verdict_reason: str
    message: str

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class StepView:
    index: int
    text: str
    status: str  # "done", "current" or "next"


@dataclass(frozen=True)
class TimelineEntry:
    at: float
    kind: str  # "event", "command", "alert", "commit", "verdict"
    text: str
    who: str = ""


@dataclass(frozen=True)
class RolloutDetail:
    row: RolloutRow
    steps: list[StepView]
    timeline: list[TimelineEntry]
    evidence: list[dict[str, Any]]
    spec_yaml: str
    commit: str | None
    source_path: str | None
    pending_command: Command | None


@dataclass(frozen=True)
class ChartPoint:
    """One sample of the live chart: the weight, and per policy its numbers."""

    at: float
    weight: int
    phase: str
    policies: dict[str, dict[str, float | None]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "weight": self.weight,
            "phase": self.phase,
            "policies": self.policies,
        }


def row(item: Stored) -> RolloutRow:
    state = item.state
    verdict = state.last_verdict
    return RolloutRow(
        namespace=item.namespace,
        name=item.name,
        phase=state.phase.value if item.observed else "Unknown",
        stable_version=state.stable_version or "-",
        canary_version=state.canary_version or "-",
        desired_version=str(item.spec.get("version", "-")),
        canary_weight=state.canary_weight,
        verdict=verdict.outcome if verdict else "-",
        verdict_reason=verdict.reason if verdict else "",
        message=state.message,
    )


def rows(
    items: Iterable[Stored], *, search: str = "", namespace: str | None = None
) -> list[RolloutRow]:
    """The list page's rows, filtered by namespace and by a search over name and versions."""
    wanted = search.strip().lower()
    found = []
    for item in items:
        if namespace and item.namespace != namespace:
            continue
        line = row(item)
        haystack = " ".join(
            (line.key, line.phase, line.stable_version, line.canary_version, line.desired_version)
        ).lower()
        if wanted and wanted not in haystack:
            continue
        found.append(line)
    return sorted(found, key=lambda line: line.key)


def detail(item: Stored, events: Sequence[Mapping[str, Any]]) -> RolloutDetail:
    state = item.state
    verdict = state.last_verdict
    return RolloutDetail(
        row=row(item),
        steps=_steps(item.spec, state),
        timeline=_timeline(item, events),
        evidence=[dict(entry) for entry in verdict.evidence] if verdict else [],
        spec_yaml=yaml.safe_dump(redacted(dict(item.spec)), sort_keys=False),
        commit=item.commit or state.commit,
        source_path=item.source_path,
        pending_command=pending_command(item),
    )


def pending_command(item: Stored) -> Command | None:
    """The person's command the controller has not acted on yet (the annotation stays on
    the Rollout after the controller records it in the status)."""
    command = item.command
    if command is None or any(done.id == command.id for done in item.state.commands):
        return None
    return command


def chart_point(item: Stored, *, at: float) -> ChartPoint:
    """The numbers the chart plots at ``at``: weight, and per policy canary and stable
    rates, the threshold, and the sequential test's evidence when it has one."""
    policies: dict[str, dict[str, float | None]] = {}
    verdict = item.state.last_verdict
    for entry in verdict.evidence if verdict else []:
        name = f"{entry.get('policy', '?')} {entry.get('check', '')}".strip()
        policies[name] = {
            "canary": _number(entry.get("value")),
            "stable": _number(entry.get("stable_value", entry.get("stableValue"))),
            "threshold": _number(entry.get("threshold")),
            "evidence": _number(entry.get("statistic")),
        }
    return ChartPoint(
        at=at, weight=item.state.canary_weight, phase=item.state.phase.value, policies=policies
    )


def redacted(value: Any, *, secret: bool = False) -> Any:
    """A copy of a spec with every text under a secret-sounding key replaced; references
    to where a secret lives (``secretRef``, ``env``) are kept, being no secret themselves."""
    if isinstance(value, Mapping):
        shown = {}
        for key, item in value.items():
            if key in _REFERENCES:
                shown[key] = item
                continue
            inner = secret or any(word in str(key).lower() for word in _SECRET_WORDS)
            shown[key] = redacted(item, secret=inner)
        return shown
    if isinstance(value, list):
        return [redacted(item, secret=secret) for item in value]
    if secret and isinstance(value, str):
        return REDACTED
    return value


def _steps(spec: Mapping[str, Any], state: RolloutState) -> list[StepView]:
    raw = spec.get("steps")
    if not isinstance(raw, list) or not raw:
        raw = [step.model_dump(by_alias=True, exclude_none=True) for step in default_steps()]
    views = []
    progressing = state.phase.active and state.canary_version is not None
    for index, step in enumerate(raw):
        if not progressing:
            status = "done" if state.phase.value == "Succeeded" else "next"
        elif index < state.step_index:
            status = "done"
        elif index == state.step_index:
            status = "current"
        else:
            status = "next"
        views.append(StepView(index=index, text=_step_text(step), status=status))
    return views


def _step_text(step: Any) -> str:
    if not isinstance(step, Mapping):
        return str(step)
    parts = []
    for key, value in step.items():
        if isinstance(value, Mapping):
            inner = ", ".join(f"{k} {v}" for k, v in value.items())
            parts.append(f"{key} ({inner})" if inner else str(key))
        else:
            parts.append(f"{key} {value}")
    return "; ".join(parts)


def _alert_text(key: str) -> str:
    """An alert's record in words: ``[target:]event/version/revision[/step]`` (as
    ``Notification.dedupe_key`` and ``alert_key`` write it) becomes ``alert sent: promoted,
    v2 (spec 02fb8881)``; a key of another shape is shown as it is."""
    target, _, rest = key.rpartition(":") if ":" in key.split("/")[0] else ("", "", key)
    parts = rest.split("/")
    if len(parts) not in (3, 4) or "@" not in parts[2]:
        return f"alert sent: {key}"
    event, version, revision = parts[:3]
    spec = revision.partition("@")[2][:8]
    step = f", step {parts[3]}" if len(parts) == 4 else ""
    to = f" to {target}" if target else ""
    return f"alert sent{to}: {event}, {version}{step} (spec {spec})"


def _timeline(item: Stored, events: Sequence[Mapping[str, Any]]) -> list[TimelineEntry]:
    state = item.state
    entries = [
        TimelineEntry(
            at=float(event.get("at") or 0.0),
            kind="event",
            text=f"{event.get('reason', '')}: {event.get('message', '')}",
            who=str(event.get("type", "")),
        )
        for event in events
    ]
    for command in state.commands:
        result = f" ({command.result})" if command.result else ""
        entries.append(
            TimelineEntry(
                at=command.at, kind="command", text=command.action + result, who=command.by
            )
        )
    waiting = pending_command(item)
    if waiting is not None:
        entries.append(
            TimelineEntry(
                at=waiting.at, kind="command", text=f"{waiting.action} (pending)", who=waiting.by
            )
        )
    for alert in state.alerts_sent:
        entries.append(TimelineEntry(at=0.0, kind="alert", text=_alert_text(alert)))
    commit = item.commit or state.commit
    if commit:
        where = f" ({item.source_path})" if item.source_path else ""
        started = state.rollout_started_at or 0.0
        entries.append(TimelineEntry(at=started, kind="commit", text=f"Git {commit[:12]}{where}"))
    if state.last_verdict is not None:
        verdict = state.last_verdict
        entries.append(
            TimelineEntry(
                at=verdict.at, kind="verdict", text=f"{verdict.outcome}: {verdict.reason}"
            )
        )
    return sorted(entries, key=lambda entry: entry.at, reverse=True)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if number == number and abs(number) != float("inf") else None
