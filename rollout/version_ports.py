"""The ports that act beside the traffic: the managed versions' Deployments and the hooks.

Part of :mod:`rollout.ports` (kept apart to keep each module small): the ``Workloads``
port (``kube/workloads.py``) and the ``HookCaller`` port (``notify/hooks.py``), with the
data that crosses them. Pure: Protocols and frozen data, no I/O and no clock.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal, Protocol

from rollout.spec.hooks import Hook, HookKind
from rollout.spec.rollout import Rollout

__all__ = ["HookAnswer", "HookCall", "HookCaller", "Replicas", "Workloads"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class HookCall:
    """What a hook is told: the rollout, its versions, the step, the weight and the last
    verdict's evidence. ``weight`` is the canary weight now; ``next_weight`` the one the
    gated move would set (the same for an outcome told after the fact)."""

    kind: HookKind
    namespace: str
    rollout: str
    stable_version: str | None
    canary_version: str | None
    step: int
    weight: int
    next_weight: int
    phase: str
    revision: str
    evidence: tuple[Mapping[str, Any], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The documented body fields (docs/hooks.md), camelCase."""
        return {
            "hook": self.kind.value,
            "namespace": self.namespace,
            "rollout": self.rollout,
            "stableVersion": self.stable_version,
            "canaryVersion": self.canary_version,
            "step": self.step,
            "weight": self.weight,
            "nextWeight": self.next_weight,
            "phase": self.phase,
            "revision": self.revision,
            "evidence": [dict(e) for e in self.evidence],
        }


@dataclasses.dataclass(frozen=True)
class HookAnswer:
    """A hook's answer: ``yes`` (2xx), ``no`` (another 4xx) or ``failed`` (a timeout, an
    unreachable receiver, 5xx or 429 until the retries ran out, or a URL that cannot be
    resolved), with what the receiver or the failure said, for people."""

    outcome: Literal["yes", "no", "failed"]
    detail: str = ""

    @property
    def approved(self) -> bool:
        return self.outcome == "yes"


@dataclasses.dataclass(frozen=True)
class Replicas:
    """A Deployment's replicas: asked for (``spec.replicas``) and ready."""

    wanted: int
    ready: int


class HookCaller(Protocol):
    """Calls a rollout's HTTP hooks (``spec.hooks``).

    ``call`` posts and waits for the answer, within the hook's timeout and retries, and
    never raises for what the receiver did (that is the answer); ``nudge`` starts a call
    and returns at once, for the ``load`` hook: at most one is in flight per hook.
    """

    def call(self, hook: Hook, call: HookCall) -> HookAnswer: ...

    def nudge(self, hook: Hook, call: HookCall) -> None: ...

    def close(self) -> None: ...


class Workloads(Protocol):
    """Makes and scales the Deployments of a rollout's managed versions
    (``spec.workload.managed``); every scale goes through the ``scale`` subresource."""

    def ensure(self, rollout: Rollout, version: str, *, owner_uid: str, replicas: int) -> None:
        """Create the version's Deployment from the template when it does not exist;
        ``ClusterError`` (``NotFound`` for a missing template) when it cannot."""
        ...

    def replicas(self, namespace: str, deployment: str) -> Replicas | None:
        """The Deployment's replicas; None when it does not exist."""
        ...

    def scale(self, namespace: str, deployment: str, replicas: int) -> None:
        """Set the Deployment's replicas (nothing is written when they already are)."""
        ...

    def autoscaler_target(self, namespace: str, autoscaler: str) -> str | None:
        """The name of the Deployment the HorizontalPodAutoscaler's ``scaleTargetRef``
        names ("" when it names another kind); None when the HPA does not exist."""
        ...

    def retarget(self, namespace: str, autoscaler: str, *, current: str, deployment: str) -> None:
        """Point the HPA's ``scaleTargetRef`` at ``deployment``, guarded by a test that it
        still names ``current``; ``Conflict`` when it changed meanwhile."""
        ...
