"""In-memory stand-ins at the coordinator's ports, for the tests of the coordinator.

Each is a small fake at one Protocol of :mod:`rollout.ports` (never of our internals): a
store with resourceVersions and conflicts, a router with a live split and its record, a
readiness probe, a scripted analyzer, and recorders for alerts and Events. The real
adapters are tested against the local API server, Prometheus and real receivers.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from rollout.analysis.verdicts import Evidence, Outcome, Verdict
from rollout.effects import RecordEvent, SetWeights
from rollout.errors import ClusterError, Conflict
from rollout.events import Notification
from rollout.ports import Desired, Readiness, RouteWeights, Stored
from rollout.reconcile import Ports, Reconciler
from rollout.spec.alerts import AlertTarget
from rollout.spec.rollout import Rollout
from rollout.state import Command, RolloutState
from rollout.version_ports import HookCaller

__all__ = [
    "FAIL",
    "PASS",
    "Alerts",
    "Events",
    "MemoryRouter",
    "MemoryStore",
    "Probe",
    "ScriptedAnalyzer",
    "memory_world",
]

FAIL = Verdict(
    Outcome.FAIL,
    (Evidence("istio-error-ratio", "canary-vs-stable", Outcome.FAIL, "5% > 1%", value=0.05),),
)
PASS = Verdict(Outcome.PASS, (), canary_requests=10, within_slo=True)


class MemoryStore:
    def __init__(self) -> None:
        self.status: dict[str, Any] = {}
        self.version = 1
        self.conflicts_to_raise = 0
        self.command: Command | None = None
        self.writes = 0
        self.log: list[str]

    def load(self, namespace: str, name: str) -> Stored:
        return Stored(
            namespace=namespace,
            name=name,
            state=RolloutState.from_status(self.status),
            resource_version=str(self.version),
            command=self.command,
        )

    def list_rollouts(self, namespace: str | None = None) -> list[Stored]:
        return [self.load("shop", "checkout")]

    def check_served(self) -> None:
        return None

    def annotate(self, namespace: str, name: str, annotations: dict[str, str]) -> None:
        raise AssertionError("the coordinator writes no annotation")

    def save_state(
        self, namespace: str, name: str, state: RolloutState, resource_version: str | None
    ) -> str:
        if self.conflicts_to_raise:
            self.conflicts_to_raise -= 1
            self.version += 1
            raise Conflict("the object has been modified")
        if resource_version != str(self.version):
            raise Conflict("stale resourceVersion")
        self.status = state.to_status()
        self.version += 1
        self.writes += 1
        self.log.append("state")
        return str(self.version)


class MemoryRouter:
    def __init__(self, log: list[str]) -> None:
        self.weights: SetWeights | None = None
        self.problems: list[str] = []
        self.log = log
        self.fail_next = False
        self.split: dict[str, int] = {"v1": 100}
        """The live split: v1 serves before the controller first sees the rollout."""
        self.record: str | None = None

    def check(self, rollout: Rollout, stable: str, canary: str | None) -> list[str]:
        return list(self.problems)

    def start_caches(self) -> None:
        return None

    def stop_caches(self) -> None:
        return None

    def set_weights(self, rollout: Rollout, weights: SetWeights) -> None:
        if self.fail_next:
            self.fail_next = False
            raise ClusterError("connection refused")
        if weights != self.weights:
            self.log.append(f"weights {weights.canary_version}={weights.canary_weight}")
        self.edit(weights)
        if weights.record is not None:
            self.record = weights.record

    def edit(self, weights: SetWeights) -> None:
        """Someone else sets the live weights (``kubectl edit``, or a crash after a write)."""
        self.weights = weights
        self.split = {weights.stable_version: 100 - weights.canary_weight}
        if weights.canary_version is not None:
            self.split[weights.canary_version] = weights.canary_weight

    def read_weights(self, rollout: Rollout) -> tuple[RouteWeights, ...]:
        split = {rollout.subset_for(version): weight for version, weight in self.split.items()}
        route = "VirtualService shop/checkout route primary"
        return (RouteWeights(route, split, self.record),)


class Probe:
    ready = True

    def readiness(self, namespace: str, deployment: str) -> Readiness:
        return Readiness(self.ready, "" if self.ready else f"{deployment}: 0/1 available")


class ScriptedAnalyzer:
    def __init__(self) -> None:
        self.verdict: Verdict | None = PASS
        self.calls: list[tuple[str | None, dict[str, Any], int]] = []
        self.prepared: list[list[str]] = []
        """The keys of each ``prepare`` call: rollouts whose first tick was asked ahead."""

    def analyze(
        self, desired: Desired, state: RolloutState, now: float
    ) -> tuple[Verdict | None, dict[str, Any] | None]:
        self.calls.append((state.canary_version, dict(state.analysis), state.canary_weight))
        return self.verdict, {"for": state.canary_version}

    def prepare(self, starting: Sequence[tuple[Desired, RolloutState]], now: float) -> None:
        self.prepared.append([desired.rollout.key for desired, _ in starting])


class Alerts:
    def __init__(self, log: list[str]) -> None:
        self.sent: list[Notification] = []
        self.log = log

    def send(self, notification: Notification, targets: Sequence[AlertTarget]) -> None:
        self.sent.append(notification)
        self.log.append(f"alert {notification.event.value}")


class Events:
    def __init__(self) -> None:
        self.recorded: list[str] = []

    def record(self, namespace: str, name: str, uid: str, event: RecordEvent) -> str:
        self.recorded.append(event.reason)
        return event.reason


def memory_world(hooks: HookCaller | None = None) -> dict[str, Any]:
    """Ports of in-memory stand-ins (and ``hooks``, when given) with a clock that moves 10 s
    a tick, the shared log of what they did, and a ``Reconciler`` over them."""
    log: list[str] = []
    store = MemoryStore()
    store.log = log
    clock = itertools.count(1000, 10)
    ports = Ports(
        store=store,
        router=MemoryRouter(log),
        readiness=Probe(),
        analyzer=ScriptedAnalyzer(),
        alerts=Alerts(log),
        events=Events(),
        clock=lambda: float(next(clock)),
    )
    if hooks is not None:
        ports.hooks = hooks
    return {"ports": ports, "log": log, "reconciler": Reconciler(ports)}
