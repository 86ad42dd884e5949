"""Where a rollout stands: the record kept in the Rollout's status subresource.

The state is what lets a controller killed at any moment continue where it was: phase,
current step and when it started, the weight, the stable and canary versions, the failed
revision that must not be retried, the analysis state, the last verdict with its evidence,
the alerts owed and sent, and the commands people gave. Pure data: it round-trips through
JSON (camelCase, as Kubernetes status fields are) and does no I/O.
"""

from __future__ import annotations

import enum
import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

__all__ = [
    "MAX_COMMAND_HISTORY",
    "MAX_SENT_ALERTS",
    "PROGRESSING",
    "READY",
    "RECONCILED",
    "Command",
    "Condition",
    "FailedRevision",
    "PendingAlert",
    "Phase",
    "RolloutState",
    "VerdictRecord",
    "reconcile_failure",
    "with_failed_reconcile",
    "with_standard_conditions",
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
    """A Kubernetes-style condition: a type, True/False/Unknown, a reason and a message, and
    the generation of the spec it was set for."""

    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str
    message: str = ""
    last_transition_time: float = 0.0
    """Unix seconds; the Kubernetes adapter writes it as RFC 3339 (rollout.kube.status_times)."""
    observed_generation: int | None = None


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
    """An alert a decision owes, until the coordinator writes the state that records it as
    sent and hands it to the dispatcher (a status an older controller saved may still hold
    some: the next tick sends them)."""

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
    retiring: dict[str, float] = Field(default_factory=dict)
    """Managed versions no longer wanted, and when each is scaled to zero: the old stable
    after its keep window, a rolled-back canary after its delay."""
    kept_stable: str | None = None
    """The managed stable the last promotion replaced: while its keep window runs, an abort
    puts the traffic back on it (until the next rollout starts)."""

    def to_status(self) -> dict[str, Any]:
        """The JSON written to the status subresource.

        A phase nothing decided yet is left out (a Rollout the controller fails on before
        it adopts a version carries only its conditions), so no reader takes the default
        for an outcome.
        """
        status = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        if "phase" not in self.model_fields_set:
            status.pop("phase", None)
        return status

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
        *,
        generation: int | None = None,
    ) -> RolloutState:
        """Set a condition; the transition time moves only when the status changes."""
        current = self.condition(type_)
        # whole seconds, as written: the record read back equals the one kept in memory
        changed_at = float(math.floor(now))
        since = current.last_transition_time if current and current.status == status else changed_at
        updated = Condition(
            type=type_,
            status=status,
            reason=reason,
            message=message,
            last_transition_time=since,
            observed_generation=generation,
        )
        others = [c for c in self.conditions if c.type != type_]
        return self.model_copy(update={"conditions": [*others, updated]})

    def command_seen(self, command_id: str) -> bool:
        return any(c.id == command_id for c in self.commands)


READY = "Ready"
PROGRESSING = "Progressing"
RECONCILED = "Reconciled"


def with_standard_conditions(
    state: RolloutState, *, desired_version: str, generation: int | None, now: float
) -> RolloutState:
    """``Reconciled``, ``Ready`` and ``Progressing`` after a tick that went through, as the
    Kubernetes API conventions describe them, for tools that read health from conditions
    (Flux's kstatus, ``kubectl wait --for=condition=Ready``).

    Ready: the version the spec asks for serves all traffic. Progressing: a rollout is under
    way. Each carries the phase as its reason and the phase's message.
    """
    phase = state.phase
    serving = not phase.active and state.stable_version == desired_version
    reason = phase.value
    settled = state.with_condition(RECONCILED, "True", "Reconciled", "", now, generation=generation)
    settled = settled.with_condition(
        READY, "True" if serving else "False", reason, state.message, now, generation=generation
    )
    return settled.with_condition(
        PROGRESSING,
        "True" if phase.active else "False",
        reason,
        state.message,
        now,
        generation=generation,
    )


def with_failed_reconcile(
    state: RolloutState, *, reason: str, message: str, generation: int | None, now: float
) -> RolloutState:
    """``Reconciled=False`` and ``Ready=False`` with why a tick could not go through."""
    failed = state.with_condition(RECONCILED, "False", reason, message, now, generation=generation)
    return failed.with_condition(READY, "False", reason, message, now, generation=generation)


def reconcile_failure(state: RolloutState) -> Condition | None:
    """The ``Reconciled=False`` condition while ticks fail, else None."""
    condition = state.condition(RECONCILED)
    return condition if condition is not None and condition.status == "False" else None
