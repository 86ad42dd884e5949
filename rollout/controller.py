"""The controller process: wires the spec source, the cluster, Prometheus and the alerts
to the coordinator, the scheduler, the HTTP server and leader election.

``rollout run`` builds a ``Controller`` from ``ControllerSettings`` and runs it until a
signal; the end-to-end tests and the demo run it in-process the same way.

Git mode (the default): every sync reads the repository at one commit, checks every spec
and policy together, and mirrors each valid spec into its Rollout resource (annotated with
the commit), which is what the coordinator then reads. A spec that turns invalid keeps the
last valid one in the cluster and is reported on its Rollout; a spec removed from Git is
finished per its ``onDelete`` and its mirror removed. With ``writeBack`` on, a rollback is
committed back to the spec repository off the reconcile path (``rollout.writeback``).

Cluster mode reads Rollout resources that Argo CD or Flux applied (all namespaces, or one)
and never writes their spec: only their status, Events, and nothing else. Each is
validated with the spec model; an invalid one gets a ``SpecValid=False`` condition and an
Event (a rollout under way keeps running on its last valid spec held in memory), and the
others carry on. A deleted Rollout is simply forgotten: there is no status left to keep,
so ``onDelete`` applies to git mode only.

Only the leader (a ``coordination.k8s.io`` Lease) syncs and reconciles; every replica
serves ``/healthz``, ``/readyz`` and ``/metrics``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from rollout import __version__
from rollout.errors import ClusterError, NotFound, RolloutError, SourceError
from rollout.kube.client import api_client
from rollout.kube.lease import LeaderElector
from rollout.kube.readiness import DeploymentReadiness
from rollout.kube.rollout_resource import SHOWN_PHASES
from rollout.kube.secrets import KubeSecretResolver
from rollout.kube.store import KubeStateStore, StoredRollout
from rollout.logs import rollout_context
from rollout.mesh.istio import IstioRouter
from rollout.metrics.analyzer import PrometheusAnalyzer
from rollout.metrics.batch import BatchedQueries
from rollout.metrics.prometheus import PrometheusProvider, PrometheusSettings
from rollout.notify.dispatch import AlertDispatcher, AlertResult
from rollout.reconcile import Desired, Ports, Reconciler
from rollout.scheduler import Scheduler
from rollout.server.conditions import Conditions
from rollout.server.http import ControllerServer
from rollout.server.metrics import ControllerMetrics
from rollout.source import gitwrite
from rollout.source.git import GitSource
from rollout.spec import builtin, catalog
from rollout.spec.policy import RenderedPolicy, resolve
from rollout.spec.pydantic_problems import problems_from
from rollout.spec.rollout import Rollout
from rollout.spec.yamldocs import Document
from rollout.state import RolloutState
from rollout.writeback import WriteBackWorker

log = logging.getLogger("rollout.controller")


def default_identity() -> str:
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
    workers: int = 8
    resync_interval: float = 600.0
    """Seconds between runs of a rollout with nothing under way (a change wakes it at once)."""
    namespace: str | None = None
    """Cluster mode: watch Rollouts of this namespace only (default: all namespaces)."""
    git_author_name: str = gitwrite.DEFAULT_NAME
    git_author_email: str = gitwrite.DEFAULT_EMAIL
    """Author and committer of write-back commits."""


class Controller:
    def __init__(self, settings: ControllerSettings, *, clock: Callable[[], float] = time.time):
        if settings.source == "git" and not settings.git_url:
            raise RolloutError("git mode needs a repository URL (--git-url)")
        self.settings = settings
        self.metrics = ControllerMetrics(known_phases=SHOWN_PHASES)
        self.api = api_client(kubeconfig=settings.kubeconfig, context=settings.context)
        self.api.user_agent = f"rollout-controller/{__version__} ({settings.identity})"
        self.store = KubeStateStore(self.api)
        self.dispatcher = AlertDispatcher(
            resolver=KubeSecretResolver(self.api), on_result=self._count_alert
        )
        prometheus = PrometheusProvider(settings.prometheus)
        self.router = IstioRouter(self.api)
        self.readiness = DeploymentReadiness(self.api)
        ports = Ports(
            store=self.store,
            router=self.router,
            readiness=self.readiness,
            analyzer=PrometheusAnalyzer(prometheus, batch=BatchedQueries(prometheus)),
            alerts=self.dispatcher,
            events=self.store,
            clock=clock,
        )
        self.reconciler = Reconciler(ports)
        self._clock = clock
        self.source = (
            GitSource(
                settings.git_url or "",
                branch=settings.git_branch,
                path=settings.git_path,
                cache_dir=settings.cache_dir,
                poll_interval=settings.poll_interval,
            )
            if settings.source == "git"
            else None
        )
        self.write_back = (
            WriteBackWorker(
                gitwrite.GitWriter(
                    settings.git_url or "",
                    branch=settings.git_branch,
                    cache_dir=settings.cache_dir,
                    identity=gitwrite.Identity(settings.git_author_name, settings.git_author_email),
                ),
                self.store,
                on_written=self._written_back,
                count=lambda namespace, name, result: self.metrics.count_write_back(
                    namespace, name, result=result
                ),
            )
            if settings.source == "git"
            else None
        )
        self.scheduler = self._new_scheduler()
        self.conditions = Conditions(self.metrics)
        self.server = ControllerServer(
            metrics=self.metrics,
            conditions=self.conditions,
            host=settings.listen_host,
            port=settings.listen_port,
            is_alive=self._alive,
            on_push=self._on_push,
            hook_secret=settings.hook_secret,
        )
        self.elector = (
            LeaderElector(
                self.api,
                settings.lease_namespace,
                settings.lease_name,
                settings.identity,
                on_started_leading=self._start_leading,
                on_stopped_leading=self._stop_leading,
            )
            if settings.leader_election
            else None
        )
        self._catalog: catalog.Catalog | None = None
        self._reported_problems: set[str] = set()
        self._source_fingerprint = ""
        """The commit (or the policy files) of the latest sync."""
        self._triggered_fingerprint = ""
        self._authors: dict[str, str] = {}
        self._commit_author: str | None = None
        self._last_valid: dict[str, tuple[Rollout, tuple[RenderedPolicy, ...]]] = {}
        self._namespace = settings.namespace if settings.source == "cluster" else None
        self._lock = threading.Lock()
        self._leading = False
        self._stopped = threading.Event()
        self._last_tick = time.monotonic()

    # ---- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        self.server.start()
        log.info("serving probes, metrics and hooks on port %d", self.server.port)
        if self.elector is not None:
            # a follower is ready to take over; the leader is ready after its first sync
            self.server.mark_ready()
            self.elector.start()
        else:
            self._start_leading()

    def stop(self) -> None:
        self._stopped.set()
        if self.elector is not None:
            self.elector.stop()
        else:
            self._stop_leading()
        self.dispatcher.close()
        if self.write_back is not None:
            self.write_back.close()
        self.server.stop()
        if self.source is not None:
            self.source.close()

    def wait(self) -> None:
        self._stopped.wait()

    @property
    def is_leader(self) -> bool:
        """Leading by our own record and, with election on, by the Lease's clock too: a
        stuck election thread stops us acting at its renew deadline."""
        if self.elector is not None and not self.elector.is_leader:
            return False
        return self._leading

    def _start_leading(self) -> None:
        with self._lock:
            if self._leading or self._stopped.is_set():
                return
            log.info("%s is the leader: syncing and reconciling", self.settings.identity)
            self._leading = True
            self.server.mark_ready(False)
            self.metrics.set_leader(True)
            # a fresh one each term: a stopped APScheduler cannot be started again
            self.scheduler = self._new_scheduler()
            self._start_caches()
            self.scheduler.start()

    def _start_caches(self) -> None:
        """List and watch what every tick reads: Rollouts, Istio objects, Deployments."""
        self.store.cache.watch(self._namespace, on_change=self._rollout_changed)
        self.readiness.start_cache()
        try:
            self.router.start_caches()
        except RolloutError as error:
            log.warning("Istio objects are read from the API server, not a cache: %s", error)

    def _new_scheduler(self) -> Scheduler:
        return Scheduler(
            run_rollout=self.run_rollout,
            sync=self.sync,
            poll_interval=self.settings.poll_interval,
            workers=self.settings.workers,
            on_tick_lag=self.metrics.observe_tick_lag,
        )

    def _stop_leading(self) -> None:
        with self._lock:
            if not self._leading:
                return
            log.info("%s stopped leading: no more writes", self.settings.identity)
            self._leading = False
            self.metrics.set_leader(False)
            self.scheduler.stop(wait=True)
            self.store.cache.stop()
            self.router.stop_caches()
            self.readiness.stop_cache()
            self.server.mark_ready()

    def _alive(self) -> bool:
        return not self._stopped.is_set()

    def _on_push(self, branch: str | None, commit: str | None) -> None:
        if branch is not None and branch != self.settings.git_branch:
            log.info("push to %s ignored: watching %s", branch, self.settings.git_branch)
            return
        if self.is_leader:
            self.scheduler.trigger_sync()

    def _written_back(self) -> None:
        """A write-back commit landed: read Git now rather than at the next poll."""
        if self.is_leader:
            self.scheduler.trigger_sync()

    def _count_alert(self, result: AlertResult) -> None:
        self.metrics.count_alert(
            target=result.target, event=result.event, sent=result.status == "sent"
        )

    # ---- syncing the spec source -------------------------------------------------------
    def sync(self) -> None:
        """Read the source, mirror valid specs, and make the rollout jobs match."""
        if not self.is_leader:
            return
        try:
            loaded = self._load_catalog()
        except SourceError as error:
            self.metrics.record_git_sync(success=False)
            log.warning("spec source sync failed, keeping the last good specs: %s", error)
            return
        self.metrics.record_git_sync(success=True)
        self._catalog = loaded
        reported = {str(problem) for problem in loaded.problems}
        for problem in sorted(reported - self._reported_problems):
            log.warning("invalid spec: %s", problem)
        self._reported_problems = reported
        self.conditions.spec_files({problem.path for problem in loaded.problems})
        try:
            self.store.check_served()
            stored = {item.key: item for item in self.store.list(self._namespace)}
        except ClusterError as error:
            self.conditions.rollout_api(error)
            return
        self.conditions.rollout_api(None)
        if self.source is not None:
            self._mirror(loaded, stored)
            stored = {item.key: item for item in self.store.list(self._namespace)}
        intervals: dict[str, float] = {}
        for key, item in stored.items():
            desired = self._desired_spec(item, loaded)
            if desired is not None:
                intervals[key] = self._interval_for(desired[0], item.state)
        for key in set(self._last_valid) - set(stored):
            del self._last_valid[key]
        before = self.scheduler.rollouts()
        self.scheduler.set_rollouts(intervals)
        if self._source_fingerprint != self._triggered_fingerprint:
            # new specs or policies: every rollout decides again now (spec changes also
            # reach a rollout through the watch; policy changes only through here)
            self._triggered_fingerprint = self._source_fingerprint
            for key in intervals:
                if key in before:
                    self.scheduler.trigger(key)
        self.server.mark_ready()
        phases = [(i.namespace, i.name, i.shown_phase) for i in stored.values()]
        self.metrics.set_rollout_phases(phases)

    def _load_catalog(self) -> catalog.Catalog:
        if self.source is None:
            files, problems = catalog.collect_files(self.settings.policy_paths)
            loaded = catalog.load_texts(files)
            loaded.problems[:0] = problems
            listing = repr(sorted(files.items())).encode()
            self._source_fingerprint = hashlib.sha256(listing).hexdigest()
            return loaded
        snapshot = self.source.sync()
        self._source_fingerprint = snapshot.sha
        files = dict(snapshot.files)
        loaded = catalog.load_texts(files, commit=snapshot.sha, unreadable=snapshot.unreadable)
        self._authors = {path: info.author for path, info in snapshot.file_commits.items()}
        self._commit_author = snapshot.commit.author
        return loaded

    def _mirror(self, loaded: catalog.Catalog, stored: dict[str, StoredRollout]) -> None:
        for key, entry in loaded.rollouts.items():
            body = entry.rollout.model_dump(mode="json", by_alias=True, exclude_none=True)
            try:
                self.store.mirror_spec(
                    body, commit=entry.origin.commit or "", path=entry.origin.path
                )
            except RolloutError as error:
                log.error("%s: spec not mirrored into the cluster: %s", key, error)

    # ---- one rollout -------------------------------------------------------------------
    def run_rollout(self, key: str) -> None:
        if not self.is_leader:
            return
        namespace, name = key.split("/", 1)
        with rollout_context(rollout=name, namespace=namespace):
            started = time.perf_counter()
            try:
                self._reconcile(namespace, name)
            except RolloutError as error:
                self.metrics.count_reconcile_error(namespace, name, kind=type(error).__name__)
                log.error("reconcile failed: %s", error)
            finally:
                self.metrics.observe_reconcile(namespace, name, time.perf_counter() - started)

    def _reconcile(self, namespace: str, name: str) -> None:
        try:
            item = self.store.load(namespace, name)
        except NotFound:
            self._forget(f"{namespace}/{name}")
            return
        key = item.key
        loaded = self._catalog
        spec = self._desired_spec(item, loaded)
        if spec is None:
            return
        rollout, policies, problems = spec
        deleted = False
        if self.source is not None and loaded is not None and item.source_path is not None:
            unusable = item.source_path in loaded.unusable_files and key not in loaded.rollouts
            deleted = key not in loaded.rollouts and key not in loaded.invalid_rollouts
            deleted = deleted and not unusable  # a file that cannot be read is not a deletion
            if key in loaded.invalid_rollouts or unusable:
                origin = loaded.invalid_rollouts.get(key)
                path = origin.path if origin is not None else item.source_path
                problems = tuple(str(p) for p in loaded.problems if p.path == path)
        author = self._author_of(item)
        desired = Desired(
            rollout=rollout,
            policies=policies,
            commit=item.commit,
            author=author,
            deleted=deleted,
            spec_problems=problems,
        )
        outcome = self.reconciler.reconcile(desired)
        state = outcome.state
        self.scheduler.retime(key, self._interval_for(rollout, state))
        self.metrics.set_canary_weight(namespace, name, state.canary_weight)
        if outcome.verdict is not None:
            for evidence in outcome.verdict.evidence:
                self.metrics.count_verdict(
                    namespace, name, policy=evidence.policy, outcome=evidence.outcome.value
                )
        if self.write_back is not None and not deleted:
            self.write_back.consider(
                rollout,
                state,
                source_path=item.source_path,
                annotations=item.annotations,
                uid=item.uid,
            )
        if deleted and not state.phase.active:
            self.store.delete_mirror(namespace, name)
            self._forget(key)

    def _forget(self, key: str) -> None:
        """The Rollout is gone: no job, no metrics series, no remembered spec."""
        namespace, name = key.split("/", 1)
        if key in self.scheduler.rollouts():
            log.info("rollout %s is gone: forgetting it", key)
        self._last_valid.pop(key, None)
        self.metrics.forget_rollout(namespace, name)
        remaining = {k: v for k, v in self.scheduler.rollouts().items() if k != key}
        self.scheduler.set_rollouts(remaining)

    def _desired_spec(
        self, item: StoredRollout, loaded: catalog.Catalog | None
    ) -> tuple[Rollout, tuple[RenderedPolicy, ...], tuple[str, ...]] | None:
        """The spec to run, its policies, and the problems of a newer invalid spec.

        An invalid spec (or one naming an unknown policy) falls back to the last valid
        one seen, with its problems reported through the tick; with none to fall back on
        it is reported on the Rollout here, and None says there is nothing to run.
        """
        rollout, problem = _parse(item)
        policies: tuple[RenderedPolicy, ...] = ()
        if rollout is not None:
            try:
                policies = self._policies_for(rollout, loaded)
            except RolloutError as error:
                rollout, problem = None, f"spec.analysis.policies: {error}"
        if rollout is not None:
            self._last_valid[item.key] = (rollout, policies)
            return rollout, policies, ()
        last = self._last_valid.get(item.key)
        if last is not None:
            return last[0], last[1], (problem,)
        self._report_invalid(item, problem)
        return None

    def _report_invalid(self, item: StoredRollout, problem: str) -> None:
        """A condition and an Event on a Rollout whose spec cannot run (once per problem)."""
        current = item.state.condition("SpecValid")
        if current is not None and current.status == "False" and current.message == problem:
            return
        log.error("rollout %s: the spec in the cluster is invalid: %s", item.key, problem)
        state = item.state.with_condition(
            "SpecValid", "False", "InvalidSpec", problem, self._clock()
        )
        try:
            self.store.save_state(item.namespace, item.name, state, item.resource_version)
            self.store.record_event(
                item.namespace, item.name, item.uid, "SpecInvalid", problem, warning=True
            )
        except RolloutError as error:
            log.warning("rollout %s: invalid spec not reported: %s", item.key, error)

    def _policies_for(
        self, rollout: Rollout, loaded: catalog.Catalog | None
    ) -> tuple[RenderedPolicy, ...]:
        if loaded is not None and rollout.key in loaded.rollouts:
            entry = loaded.rollouts[rollout.key]
            if entry.rollout.spec == rollout.spec:
                return entry.policies
        known = {p.name: p for p in builtin.shipped_policies()}
        if loaded is not None:
            known.update({name: policy for name, (policy, _) in loaded.policies.items()})
        resolved: list[RenderedPolicy] = []
        for ref in rollout.spec.analysis.policies:
            if ref.name not in known:
                raise RolloutError(f"unknown policy {ref.name!r}")
            resolved.append(resolve(known[ref.name], ref.params))
        return tuple(resolved)

    def _interval_for(self, rollout: Rollout, state: RolloutState) -> float:
        """The analysis interval while something is under way, else the slow resync."""
        if state.phase.active or rollout.spec.version != state.stable_version:
            return rollout.interval_seconds
        return max(rollout.interval_seconds, self.settings.resync_interval)

    def _rollout_changed(
        self, key: tuple[str, str], old: dict[str, Any] | None, new: dict[str, Any] | None
    ) -> None:
        """A watch event: run the rollout now if its spec, a command or its existence
        changed; our own status writes change none of those."""
        if old is not None and new is not None and _intent(old) == _intent(new):
            return
        if self.is_leader:
            self.scheduler.trigger(f"{key[0]}/{key[1]}")

    def _author_of(self, item: StoredRollout) -> str | None:
        if item.source_path and item.source_path in self._authors:
            return self._authors[item.source_path]
        return self._commit_author


def _intent(obj: dict[str, Any]) -> tuple[object, ...]:
    """What people and Git change on a Rollout: its generation (the spec) and annotations."""
    metadata = obj.get("metadata") or {}
    fields = ("generation", "annotations", "deletionTimestamp")
    return tuple(metadata.get(field) for field in fields)


def _parse(item: StoredRollout) -> tuple[Rollout | None, str]:
    """The Rollout model of a stored resource, or None and what is wrong with it."""
    body = {
        "apiVersion": "canary.rollout.dev/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": item.name, "namespace": item.namespace},
        "spec": item.spec,
    }
    try:
        return Rollout.model_validate(body), ""
    except ValidationError as error:
        document = Document(item.key, 0, body, {}, 0)
        problems = problems_from(error, document, Rollout)
        return None, "; ".join(f"{p.field}: {p.message}" for p in problems)
