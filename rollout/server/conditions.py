"""The controller's own conditions: what ``/readyz``, ``/metrics`` and the log say about it.

A Rollout carries its conditions in its status; the controller has no resource of its own,
so its conditions live here, each with a type, whether it holds, a reason and a message.
A condition that blocks readiness (the Rollout API not served, the cluster unreachable)
makes ``/readyz`` answer 503 with its message instead of a traceback per sync in the log;
one that does not (spec files that cannot be used while every other spec carries on) is
listed under the 200 answer. Each change is logged once, not once per sync, and each
condition is a gauge on ``/metrics`` (``rollout_controller_condition``).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterable

from rollout import GROUP_VERSION
from rollout.errors import ClusterError, NotFound
from rollout.server.metrics import ControllerMetrics

__all__ = ["Condition", "Conditions"]

log = logging.getLogger("rollout.controller")

LISTED_FILES = 10
"""Spec files with problems named on ``/readyz``; the metric counts them all."""


@dataclasses.dataclass(frozen=True)
class Condition:
    """One thing the controller reports about itself."""

    type: str
    ok: bool
    reason: str
    message: str = ""
    blocks_readiness: bool = False

    def __str__(self) -> str:
        state = "True" if self.ok else "False"
        return f"{self.type}={state} ({self.reason}){': ' + self.message if self.message else ''}"


class Conditions:
    """The current conditions, safe to set from the sync thread and read from the server's."""

    def __init__(self, metrics: ControllerMetrics | None = None) -> None:
        self._metrics = metrics
        self._conditions: dict[str, Condition] = {}
        self._lock = threading.Lock()

    def set(
        self,
        type: str,
        ok: bool,
        *,
        reason: str,
        message: str = "",
        blocks_readiness: bool = False,
        logged: bool = True,
    ) -> bool:
        """Record a condition; True when it changed (and then, with ``logged``, one log line)."""
        condition = Condition(type, ok, reason, message, blocks_readiness)
        with self._lock:
            previous = self._conditions.get(type)
            if previous == condition:
                return False
            self._conditions[type] = condition
        if self._metrics is not None:
            self._metrics.set_condition(type, ok)
        if logged and (previous is not None or not ok):
            log.log(logging.INFO if ok else logging.WARNING, "controller condition %s", condition)
        return True

    def forget(self, *types: str) -> None:
        """Drop conditions nobody keeps current any more (a replica that stopped leading no
        longer syncs, so what its last sync saw would hold ``/readyz`` at 503 for good)."""
        with self._lock:
            dropped = [self._conditions.pop(type) for type in types if type in self._conditions]
        for condition in dropped:
            if self._metrics is not None:
                self._metrics.forget_condition(condition.type)
            if not condition.ok:
                log.info("controller condition %s no longer tracked: not leading", condition.type)

    def get(self, type: str) -> Condition | None:
        with self._lock:
            return self._conditions.get(type)

    def failing(self) -> list[Condition]:
        """The conditions that do not hold, by type."""
        with self._lock:
            return sorted((c for c in self._conditions.values() if not c.ok), key=lambda c: c.type)

    def readiness(self, synced: bool) -> tuple[bool, str]:
        """Whether ``/readyz`` should say ready, and the body that says why."""
        failing = self.failing()
        blocking = [c for c in failing if c.blocks_readiness]
        if blocking:
            return False, "not ready: " + "; ".join(f"{c.type}: {c.message}" for c in blocking)
        if not synced:
            return False, "not ready: no successful sync"
        warnings = [f"warning: {c.type}: {c.message}" for c in failing]
        return True, "\n".join(["ok", *warnings])

    # -- the conditions the controller sets ---------------------------------------------

    SYNC_CONDITIONS = ("RolloutAPIAvailable", "SpecFilesValid")
    """Set by the leader's sync only: a follower forgets them (``forget``)."""

    def spec_files(self, paths_with_problems: Iterable[str]) -> None:
        """The spec files of the latest sync that have a problem, as a metric and a readiness
        warning; not logged here, as the controller logs each problem once."""
        paths = sorted(set(paths_with_problems))
        if self._metrics is not None:
            self._metrics.set_spec_files_invalid(len(paths))
        listed = ", ".join(paths[:LISTED_FILES]) + (", ..." if len(paths) > LISTED_FILES else "")
        self.set(
            "SpecFilesValid",
            not paths,
            reason="FilesWithProblems" if paths else "AllFilesRead",
            message=f"{len(paths)} spec file(s) with problems: {listed}" if paths else "",
            logged=False,
        )

    def rollout_api(self, error: ClusterError | None) -> None:
        """Whether the Rollout API answered the latest sync: a missing CRD (an emptied
        server) or an unreachable one makes the controller unready, logged once."""
        if error is None:
            self.set("RolloutAPIAvailable", True, reason="Served")
        elif isinstance(error, NotFound):
            self.set(
                "RolloutAPIAvailable",
                False,
                reason="CRDMissing",
                message=f"the cluster does not serve {GROUP_VERSION} rollouts: is the CRD "
                "installed? (kubectl apply -f manifests/crd.yaml); no rollout runs until it is",
                blocks_readiness=True,
            )
        else:
            self.set(
                "RolloutAPIAvailable",
                False,
                reason="APIUnreachable",
                message=f"the Kubernetes API cannot be used: {error}",
                blocks_readiness=True,
            )
