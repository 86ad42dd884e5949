"""The ports: every seam between the controller and the outside world, in one module.

The coordinator (:mod:`rollout.reconcile`) and the controller reach Kubernetes, the mesh,
Prometheus, Git and the alert receivers only through the small Protocols here, and each
adapter implements exactly one of them (Flagger's ``pkg/router/router.go`` is the model:
one small interface every implementation truly implements):

==================  ===========================================  =========================
port                what it does                                 implementation
==================  ===========================================  =========================
``StateStore``      load, list and save the Rollout's state       ``kube/store.py``
``SpecMirror``      write a Git spec into its Rollout resource    ``kube/mirror.py``
``EventSink``       a Kubernetes Event on the Rollout             ``kube/event_recorder.py``
``ReadinessProbe``  is a version's Deployment ready               ``kube/readiness.py``
``Router``          check, set and read the traffic split         ``mesh/istio.py``
                                                                  (``mesh/nop.py``)
``Analyzer``        judge the canary for one tick                 ``metrics/analyzer.py``
``MetricsProvider`` answer an instant query                       ``metrics/prometheus.py``
``AlertSink``       send the alerts a state owes                  ``notify/dispatch.py``
``SecretResolver``  an alert URL from a Secret or the environment ``kube/secrets.py``
                                                                  (``notify/factory.py``)
``SpecSource``      the desired specs, from Git or the cluster    ``source/spec_sources.py``
``HookCaller``      ask or tell a rollout's HTTP hooks            ``notify/hooks.py``
``Workloads``       make and scale managed versions' Deployments  ``kube/workloads.py``
                    (these two, and their data, in ``version_ports.py``)
==================  ===========================================  =========================

This module is pure: Protocols and the frozen data that crosses them, no I/O and no clock.
It sits below every adapter and above the decision core, so an adapter never needs to
import the coordinator it serves.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, Protocol

from rollout.analysis.verdicts import Verdict
from rollout.effects import RecordEvent, SetWeights
from rollout.events import Notification
from rollout.spec.alerts import AlertTarget, UrlSource
from rollout.spec.catalog import Catalog
from rollout.spec.policy import RenderedPolicy
from rollout.spec.rollout import Rollout
from rollout.state import Command, RolloutState, reconcile_failure

__all__ = [
    "DEFAULT_QUERY_TIMEOUT",
    "PENDING_PHASE",
    "RECONCILE_FAILED_PHASE",
    "AlertSink",
    "Analyzer",
    "Desired",
    "EventSink",
    "MetricsProvider",
    "MirrorResult",
    "Readiness",
    "ReadinessProbe",
    "RouteWeights",
    "Router",
    "SecretResolver",
    "Series",
    "SpecMirror",
    "SpecSet",
    "SpecSource",
    "StateStore",
    "Stored",
    "shown_phase",
]

DEFAULT_QUERY_TIMEOUT = 10.0
"""Seconds a metrics query may take before it counts as unreachable."""

PENDING_PHASE = "Pending"
"""The phase shown for a Rollout with no status: no controller has recorded anything yet.

Never stored: ``RolloutState`` starts as the phase the decision core begins from, which
must not be mistaken for an outcome by ``rollout status`` or the phase metric.
"""
RECONCILE_FAILED_PHASE = "ReconcileFailed"
"""The phase shown while the controller's ticks on a Rollout fail (``Reconciled=False``)."""


def shown_phase(state: RolloutState, *, observed: bool) -> str:
    """What ``rollout status`` and the phase metric say: a failing reconcile first, then
    ``Pending`` for a Rollout no controller has written a phase to, else the phase."""
    if reconcile_failure(state) is not None:
        return RECONCILE_FAILED_PHASE
    return state.phase.value if observed else PENDING_PHASE


# ---- the data that crosses the ports ---------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Desired:
    """What the spec asks for, and where it came from."""

    rollout: Rollout
    policies: tuple[RenderedPolicy, ...] = ()
    commit: str | None = None
    author: str | None = None
    deleted: bool = False
    spec_problems: tuple[str, ...] = ()

    @functools.cached_property
    def spec_hash(self) -> str:
        """SHA-256 of the spec, computed once per ``Desired`` (a tick asks for it twice, and
        an unchanged Rollout is handed the same ``Desired`` tick after tick)."""
        body = json.dumps(self.rollout.spec.model_dump(mode="json", by_alias=True), sort_keys=True)
        return hashlib.sha256(body.encode()).hexdigest()


@dataclasses.dataclass(frozen=True, kw_only=True)
class Stored:
    """One Rollout resource as read from the cluster: its state, and what optimistic
    concurrency, Events and the spec sources need.

    ``spec`` is the raw spec body (parsed by the caller); ``commit`` and ``source_path``
    say which Git commit and file a mirrored spec came from (None when not mirrored);
    ``command`` is a person's pending promote, abort or retry; ``observed`` says the
    status holds a phase (False until a controller first decides one).
    """

    namespace: str
    name: str
    state: RolloutState
    resource_version: str | None
    uid: str = ""
    generation: int | None = None
    spec: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    annotations: Mapping[str, str] = dataclasses.field(default_factory=dict)
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    command: Command | None = None
    commit: str | None = None
    source_path: str | None = None
    observed: bool = True

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def shown_phase(self) -> str:
        """The phase to show people and metrics (see :func:`shown_phase`)."""
        return shown_phase(self.state, observed=self.observed)


@dataclasses.dataclass(frozen=True)
class RouteWeights:
    """The live split of one managed route: the weight each destination (subset) carries.

    ``route`` names the route for people ("VirtualService shop/checkout route primary");
    ``weights`` maps each subset of the rollout's host to its weight, so a controller
    restarted mid-rollout can tell which destination, stable or canary, holds the traffic.
    """

    route: str
    weights: Mapping[str, int]
    record: str | None = None
    """The rollout's record annotation on the VirtualService holding the route
    (:mod:`rollout.route_record`), for adoption when the state is lost."""

    def weight_of(self, subset: str) -> int:
        """The weight ``subset`` carries; 0 when the route does not send to it."""
        return self.weights.get(subset, 0)

    def describe(self) -> str:
        split = ", ".join(f"{subset} {weight}%" for subset, weight in self.weights.items())
        return f"{self.route}: {split or 'none'}"


@dataclasses.dataclass(frozen=True)
class Readiness:
    """Whether a Deployment can take traffic, and why (not), in words for people."""

    ready: bool
    message: str


class Series(NamedTuple):
    """One series of an instant vector: its labels and its value at the query time (a
    tuple: a thousand rollouts' ticks make tens of thousands a second)."""

    labels: tuple[tuple[str, str], ...]
    value: float

    @property
    def key(self) -> str:
        """The label set as ``a=1,b=2`` (sorted), stable across ticks; ``""`` for no labels."""
        return ",".join(f"{name}={value}" for name, value in sorted(self.labels))


class MirrorResult(enum.StrEnum):
    """What mirroring a Git spec into its Rollout resource did."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclasses.dataclass(frozen=True)
class SpecSet:
    """What one sync of a spec source read.

    ``catalog`` holds the rollouts and the policies they may name (the shipped ones and
    the source's own); ``mirrored`` says the source mirrors its rollouts into the cluster,
    so a mirrored Rollout the catalog no longer holds was deleted from the source (unless
    its file could not be read). ``authors`` maps a spec file to the author of its last
    change; ``fingerprint`` changes whenever the specs or policies may have (the commit, or
    a digest of the policy files).
    """

    catalog: Catalog
    mirrored: bool = False
    authors: Mapping[str, str] = dataclasses.field(default_factory=dict)
    commit_author: str | None = None
    fingerprint: str = ""

    def author_of(self, stored: Stored) -> str | None:
        if stored.source_path and stored.source_path in self.authors:
            return self.authors[stored.source_path]
        return self.commit_author

    def deleted(self, stored: Stored) -> bool:
        """A Rollout this source mirrored whose spec is gone from it (valid or not)."""
        if not self.mirrored or stored.source_path is None:
            return False
        key, loaded = stored.key, self.catalog
        if key in loaded.rollouts or key in loaded.invalid_rollouts:
            return False
        return stored.source_path not in loaded.unusable_files  # unreadable is not deleted

    def problems_of(self, stored: Stored) -> tuple[str, ...]:
        """The problems of a mirrored Rollout whose newer spec in the source is invalid, or
        whose file the source could not read."""
        if not self.mirrored or stored.source_path is None:
            return ()
        key, loaded = stored.key, self.catalog
        unusable = stored.source_path in loaded.unusable_files and key not in loaded.rollouts
        origin = loaded.invalid_rollouts.get(key)
        if origin is None and not unusable:
            return ()
        path = origin.path if origin is not None else stored.source_path
        return tuple(str(p) for p in loaded.problems if p.path == path)


# ---- the ports -------------------------------------------------------------------------


class StateStore(Protocol):
    """Where the Rollout resources and their state are kept (the status subresource)."""

    def check_served(self) -> None:
        """``NotFound`` when the cluster does not serve Rollouts (the CRD deleted)."""
        ...

    def load(self, namespace: str, name: str) -> Stored:
        """The Rollout, or ``NotFound``."""
        ...

    def list_rollouts(self, namespace: str | None = None) -> list[Stored]:
        """Every Rollout, in one namespace or all, ordered by namespace and name."""
        ...

    def save_state(
        self, namespace: str, name: str, state: RolloutState, resource_version: str | None
    ) -> str:
        """Write the state; ``Conflict`` when the resource moved since ``resource_version``
        was read. Returns the new resourceVersion."""
        ...

    def annotate(self, namespace: str, name: str, annotations: dict[str, str]) -> None:
        """Set these annotations on the Rollout (others are kept)."""
        ...


class SpecMirror(Protocol):
    """Writes specs read from Git into their Rollout resources, never touching status."""

    def mirror_spec(
        self, rollout_body: Mapping[str, Any], *, commit: str, path: str
    ) -> MirrorResult: ...

    def delete_mirror(self, namespace: str, name: str) -> bool:
        """Delete a Rollout mirrored from Git; False when it is gone or not ours."""
        ...


class EventSink(Protocol):
    """Events about a Rollout, for ``kubectl describe``; returns the Event's name."""

    def record(self, namespace: str, name: str, uid: str, event: RecordEvent) -> str: ...


class ReadinessProbe(Protocol):
    """Whether a version's Deployment can take traffic."""

    def readiness(self, namespace: str, deployment: str) -> Readiness: ...


class Router(Protocol):
    """Moves traffic between a rollout's stable and canary versions.

    ``check`` lists what keeps the rollout from routing before any traffic moves, so a
    broken object is reported by name and nothing is half-written; ``set_weights`` applies
    absolute weights (replaying it is harmless) or raises without writing;
    ``read_weights`` is the live split of every managed route, destination by destination;
    ``start_caches`` and ``stop_caches`` keep what it reads in memory while leading.
    """

    def check(self, rollout: Rollout, stable: str, canary: str | None) -> list[str]: ...

    def start_caches(self) -> None: ...

    def stop_caches(self) -> None: ...

    def set_weights(self, rollout: Rollout, weights: SetWeights) -> None: ...

    def read_weights(self, rollout: Rollout) -> tuple[RouteWeights, ...]: ...


class Analyzer(Protocol):
    """Judges the canary for one tick: the verdict and the analysis state to keep."""

    def analyze(
        self, desired: Desired, state: RolloutState, now: float
    ) -> tuple[Verdict | None, dict[str, Any] | None]: ...

    def prepare(self, starting: Sequence[tuple[Desired, RolloutState]], now: float) -> None:
        """Rollouts whose next tick starts a canary: what their first ticks will read may
        be asked ahead, in the background (never raises, never waits for an answer)."""
        ...


class MetricsProvider(Protocol):
    """A monitoring system that answers instant queries (Flagger's ``RunQuery``/``IsOnline``).

    Implementations raise only the errors of ``rollout.metrics.errors``.
    """

    def query(
        self, promql: str, *, at: float | None = None, timeout: float = DEFAULT_QUERY_TIMEOUT
    ) -> float:
        """One finite number at ``at`` (Unix seconds; now when None)."""
        ...

    def query_series(
        self, promql: str, *, at: float | None = None, timeout: float = DEFAULT_QUERY_TIMEOUT
    ) -> tuple[Series, ...]:
        """Every series of an instant vector (a scalar comes back as one unlabelled series).

        An empty result is returned as an empty tuple, not raised: for counters that is a
        fact (nothing counted yet), and the caller decides what it means.
        """
        ...

    def is_online(self) -> bool:
        """Whether the server answers at all; never raises."""
        ...


class AlertSink(Protocol):
    """Sends a notification to every target that wants it, off the caller's thread."""

    def send(self, notification: Notification, targets: Sequence[AlertTarget]) -> None: ...


class SecretResolver(Protocol):
    """Resolves a ``UrlSource`` (Secret key, environment variable or inline value)."""

    def resolve(self, source: UrlSource, *, namespace: str) -> str:
        """The value, or ``NotifyConfigError`` naming what is missing (never the value)."""
        ...


class SpecSource(Protocol):
    """Where the desired specs come from: a Git repository, or the cluster itself.

    ``sync`` reads the source (``SourceError`` on failure, the last good set kept by the
    caller); ``publish`` puts a set's valid specs where the coordinator reads them (the
    Rollout resources), once the Rollout API is known to answer; ``retire`` is told that a
    Rollout deleted from the source has finished, so what the source put there can go.
    """

    def sync(self) -> SpecSet: ...

    def publish(self, specs: SpecSet) -> None: ...

    def retire(self, namespace: str, name: str) -> None: ...

    def close(self) -> None: ...
