"""Where a rollout stands: the record kept in the Rollout's status subresource.

The state is what lets a controller killed at any moment continue where it was: phase,
current step and when it started, the weight, the stable and canary versions, the failed
revision that must not be retried, the analysis state, the last verdict with its evidence,
the alerts owed and sent, and the commands people gave. Pure data: it round-trips through
JSON (camelCase, as Kubernetes status fields are) and does no I/O.
"""

from __future__ import annotations

import enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

__all__ = [
    "MAX_COMMAND_HISTORY",
    "MAX_SENT_ALERTS",
    "Command",
    "Condition",
    "FailedRevision",
    "PendingAlert",
    "Phase",
    "RolloutState",
    "VerdictRecord",
]

MAX_SENT_ALERTS = 200
MAX_COMMAND_HISTORY = 20


class Phase(enum.StrEnum):
    """The phases people see in ``kubectl get`` and ``rollout status``."""

    WAITING = "WaitingForCanary"
    PROGRESSING = "Progressing"
    PAUSED = "Paused"
    PROMOTING = "Promoting"
    SUCCEEDED = "Succeeded"
    ROLLED_BACK = "RolledBack"
    FAILED = "Failed"

    @property
    def active(self) -> bool:
        """A rollout is under way: the canary may have traffic."""
        return self in (Phase.WAITING, Phase.PROGRESSING, Phase.PAUSED, Phase.PROMOTING)


class StatusModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True
    )


class Condition(StatusModel):
    """A Kubernetes-style condition: a type, True/False/Unknown, a reason and a message."""

    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str
    message: str = ""
    last_transition_time: float = 0.0


class FailedRevision(StatusModel):
    """A version that failed with one spec: not retried until the spec changes or a retry."""

    version: str
    spec_hash: str
    reason: str
    at: float


class Command(StatusModel):
    """A person's command, given through the Rollout resource, recorded with who and when."""

    id: str
    action: Literal["promote", "promote-full", "abort", "retry"]
    by: str = "unknown"
    at: float = 0.0
    result: str = ""


class VerdictRecord(StatusModel):
    """The last verdict and its evidence, as stored in the status and shown to people."""

    outcome: str
    reason: str
    at: float
    canary_requests: float = 0.0
    promotable: bool = False
    evidence: list[dict[str, Any]] = Field(default_factory=list)


class PendingAlert(StatusModel):
    """An alert decided but not yet delivered: kept in the status so a crash loses none."""

    key: str
    notification: dict[str, Any]


class RolloutState(StatusModel):
    """The whole status of one rollout."""

    phase: Phase = Phase.SUCCEEDED
    message: str = ""
    stable_version: str | None = None
    canary_version: str | None = None
    spec_hash: str = ""
    revision: str = ""
    commit: str | None = None
    step_index: int = 0
    step_started_at: float | None = None
    rollout_started_at: float | None = None
    canary_traffic_since: float | None = None
    canary_weight: int = 0
    failed: FailedRevision | None = None
    analysis: dict[str, Any] = Field(default_factory=dict)
    inconclusive_streak: int = 0
    last_verdict: VerdictRecord | None = None
    conditions: list[Condition] = Field(default_factory=list)
    alerts_sent: list[str] = Field(default_factory=list)
    outbox: list[PendingAlert] = Field(default_factory=list)
    commands: list[Command] = Field(default_factory=list)
    spec_deleted: bool = False
    observed_generation: int | None = None

    def to_status(self) -> dict[str, Any]:
        """The JSON written to the status subresource."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    @classmethod
    def from_status(cls, status: dict[str, Any] | None) -> RolloutState:
        return cls.model_validate(status or {})

    def condition(self, type_: str) -> Condition | None:
        return next((c for c in self.conditions if c.type == type_), None)

    def with_condition(
        self,
        type_: str,
        status: Literal["True", "False", "Unknown"],
        reason: str,
        message: str,
        now: float,
    ) -> RolloutState:
        """Set a condition; the transition time moves only when the status changes."""
        current = self.condition(type_)
        since = current.last_transition_time if current and current.status == status else now
        updated = Condition(
            type=type_, status=status, reason=reason, message=message, last_transition_time=since
        )
        others = [c for c in self.conditions if c.type != type_]
        return self.model_copy(update={"conditions": [*others, updated]})

    def command_seen(self, command_id: str) -> bool:
        return any(c.id == command_id for c in self.commands)
