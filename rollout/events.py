"""What happened to a rollout, as data: the events people are told about.

The decision core emits these as effects; the notifiers (``rollout.notify``) turn them into
Slack, Teams, Discord or generic webhook payloads. Pure data: no I/O.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from rollout.analysis.verdicts import Evidence
from rollout.spec.alerts import AlertEvent

__all__ = ["Notification"]

_PER_STEP = frozenset(
    {AlertEvent.STEP_ADVANCED, AlertEvent.PAUSED, AlertEvent.INCONCLUSIVE, AlertEvent.HOOK_FAILED}
)
"""Events that may happen once at each step; every other one happens once per revision."""


@dataclasses.dataclass(frozen=True)
class Notification:
    """One event of one rollout revision.

    ``dedupe_key`` is the same for the same event of the same revision, so an alert is sent
    once per event per revision, never once per tick.
    """

    event: AlertEvent
    rollout: str
    namespace: str
    from_version: str | None
    to_version: str
    summary: str
    step: int | None = None
    weight: int | None = None
    evidence: tuple[Evidence, ...] = ()
    commit: str | None = None
    author: str | None = None
    revision: str = ""
    at: float = 0.0

    @property
    def dedupe_key(self) -> str:
        per_step = self.event in _PER_STEP and self.step is not None
        step = f"/{self.step}" if per_step else ""
        return f"{self.event.value}/{self.to_version}/{self.revision}{step}"

    @property
    def failed_checks(self) -> tuple[Evidence, ...]:
        return tuple(e for e in self.evidence if e.outcome.value == "fail")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Notification:
        """The inverse of ``as_dict``: alerts wait in the Rollout status in that shape."""
        return cls(
            event=AlertEvent(data["event"]),
            rollout=data["rollout"],
            namespace=data["namespace"],
            from_version=data.get("fromVersion"),
            to_version=data["toVersion"],
            summary=data.get("summary", ""),
            step=data.get("step"),
            weight=data.get("weight"),
            evidence=tuple(Evidence.from_dict(e) for e in data.get("evidence", [])),
            commit=data.get("commit"),
            author=data.get("author"),
            revision=data.get("revision", ""),
            at=data.get("at", 0.0),
        )

    def as_dict(self) -> dict[str, Any]:
        """The documented JSON shape, used by the generic webhook and logs."""
        return {
            "event": self.event.value,
            "rollout": self.rollout,
            "namespace": self.namespace,
            "fromVersion": self.from_version,
            "toVersion": self.to_version,
            "summary": self.summary,
            "step": self.step,
            "weight": self.weight,
            "evidence": [e.as_dict() for e in self.evidence],
            "commit": self.commit,
            "author": self.author,
            "revision": self.revision,
            "at": self.at,
        }
