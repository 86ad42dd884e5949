"""What the controller reads at start: ``rollout run`` fills it from flags and environment;
and the spec source and write-back worker that the chosen mode (git or cluster) selects.

Kept apart from :mod:`rollout.controller` so the CLI, the demo and the tests build settings
without pulling in the process that runs them.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from rollout.mesh.factory import RouterName
from rollout.metrics.prometheus import PrometheusSettings
from rollout.ports import EventSink, SpecMirror, SpecSource, StateStore
from rollout.scheduler import DEFAULT_WORKERS
from rollout.server.metrics import ControllerMetrics
from rollout.source import gitwrite, rollback_commit
from rollout.source.git import GitSource
from rollout.source.spec_sources import ClusterSpecSource, GitSpecSource
from rollout.writeback import WriteBackWorker

__all__ = ["ControllerSettings", "default_identity", "spec_source_for", "write_back_for"]


def default_identity() -> str:
    """``<hostname>-<pid>``: unique per process, readable in ``kubectl get lease`` and in
    the API server's audit log (it is part of the user agent)."""
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclasses.dataclass(frozen=True)
class ControllerSettings:
    """Everything the controller reads at start; ``rollout run`` fills it from flags and env."""

    prometheus: PrometheusSettings
    source: Literal["git", "cluster"] = "git"
    git_url: str | None = None
    git_branch: str = "main"
    git_path: str = "."
    cache_dir: Path = Path("/tmp/rollout-cache")
    poll_interval: float = 30.0
    kubeconfig: str | None = None
    context: str | None = None
    listen_host: str = "0.0.0.0"
    listen_port: int = 8080
    hook_secret: str | None = None
    leader_election: bool = True
    lease_namespace: str = "rollout-system"
    lease_name: str = "rollout-controller"
    identity: str = dataclasses.field(default_factory=default_identity)
    policy_paths: tuple[str, ...] = ()
    workers: int = DEFAULT_WORKERS
    resync_interval: float = 600.0
    """Seconds between runs of a rollout with nothing under way (a change wakes it at once)."""
    namespace: str | None = None
    """Cluster mode: watch Rollouts of this namespace only (default: all namespaces)."""
    git_author_name: str = rollback_commit.DEFAULT_NAME
    git_author_email: str = rollback_commit.DEFAULT_EMAIL
    """Author and committer of write-back commits."""
    router: RouterName = "istio"
    """The traffic router: ``istio``, or ``nop`` to move no traffic at all."""
    dashboard: bool = False
    """Serve the dashboard under ``/dashboard`` on the listen port, signed in with
    Kubernetes tokens (TokenReview) and authorized per namespace (SubjectAccessReview)."""
    shards: int = 1
    """Leases the rollouts are split over (one: a single leader runs them all)."""
    replicas: int = 1
    """Replicas meant to share the shards; replica ``k`` prefers shards ``i % replicas == k``."""
    replica_ordinal: int = 0
    """This replica's ``k`` (a StatefulSet pod's ordinal)."""


def spec_source_for(settings: ControllerSettings, mirror: SpecMirror) -> SpecSource:
    """The spec source of the settings' mode: Git mirrored into the cluster, or the cluster."""
    if settings.source == "cluster":
        return ClusterSpecSource(settings.policy_paths)
    git = GitSource(
        settings.git_url or "",
        branch=settings.git_branch,
        path=settings.git_path,
        cache_dir=settings.cache_dir,
        poll_interval=settings.poll_interval,
    )
    return GitSpecSource(git, mirror)


def write_back_for(
    settings: ControllerSettings,
    store: StateStore,
    events: EventSink,
    on_written: Callable[[], None],
    metrics: ControllerMetrics,
) -> WriteBackWorker:
    """The write-back worker of git mode, committing as the settings' author."""
    writer = gitwrite.GitWriter(
        settings.git_url or "",
        branch=settings.git_branch,
        cache_dir=settings.cache_dir,
        identity=rollback_commit.Identity(settings.git_author_name, settings.git_author_email),
    )
    return WriteBackWorker(
        writer,
        store,
        events,
        on_written=on_written,
        count=lambda namespace, name, result: metrics.count_write_back(
            namespace, name, result=result
        ),
    )
