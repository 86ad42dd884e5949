"""Effects: what the decision core asks the coordinator to do, as data.

Weights are absolute values, never deltas, so applying an effect twice is harmless.
The coordinator applies them in a safe order: traffic first, then the state (which records
the alerts the decision owes as sent), then alerts, handed to the dispatcher once that
write succeeded.
"""

from __future__ import annotations

import dataclasses

from rollout.spec.routing import Routing

__all__ = ["Effect", "RecordEvent", "SetWeights"]


@dataclasses.dataclass(frozen=True)
class SetWeights:
    """Route ``canary_weight`` percent to ``canary_version`` and the rest to ``stable_version``.

    With ``canary_version`` None every managed route sends all traffic to the stable
    version and the canary destination is removed.
    """

    stable_version: str
    canary_version: str | None
    canary_weight: int
    record: str | None = dataclasses.field(default=None, compare=False)
    """The rollout's record (:mod:`rollout.route_record`), written in the same patch as
    the weights; None leaves the record as it is."""
    routing: Routing | None = dataclasses.field(default=None, compare=False)
    """The managed routes beside the weights (header route, mirror, sticky sessions),
    absolute; None leaves them as they are. With no canary they are always removed."""

    def __post_init__(self) -> None:
        if not 0 <= self.canary_weight <= 100:
            raise ValueError(f"canary weight {self.canary_weight} is outside 0..100")
        if self.canary_version is None and self.canary_weight:
            raise ValueError("a canary weight needs a canary version")


@dataclasses.dataclass(frozen=True)
class RecordEvent:
    """A Kubernetes Event on the Rollout, for ``kubectl describe`` and Argo CD."""

    reason: str
    message: str
    warning: bool = False


Effect = SetWeights | RecordEvent
