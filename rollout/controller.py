"""The controller process: wires the adapters to the coordinator, the scheduler, the HTTP
server and leader election, and runs them until stopped.

``rollout run`` builds a ``Controller`` from :class:`~rollout.settings.ControllerSettings`
and runs it until a signal; the end-to-end tests and the demo run it in-process the same
way. This module holds wiring and lifecycle only: what a sync and a tick do is
:mod:`rollout.leader_work`, the spec sources are :mod:`rollout.source.spec_sources`.

Git mode (the default) reads the repository and mirrors each valid spec into its Rollout;
with ``writeBack`` on, a rollback is committed back to the spec repository off the
reconcile path (:mod:`rollout.writeback`). Cluster mode reads Rollout resources that Argo CD
or Flux applied and never writes their spec (see docs/cluster-source.md).

Only the leader (a ``coordination.k8s.io`` Lease) syncs and reconciles; every replica
serves ``/healthz``, ``/readyz`` and ``/metrics``. With ``--shards N`` there is one Lease per
shard (:mod:`rollout.kube.shard_election`) and a replica syncs, mirrors and reconciles only
the rollouts of the shards it holds (:mod:`rollout.shards`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from starlette.routing import BaseRoute, Mount

from rollout import __version__
from rollout.dashboard.access import KubernetesSignIn
from rollout.dashboard.app import dashboard_app
from rollout.errors import RolloutError
from rollout.kube.dashboard_reads import DashboardReads, KubeAccessReview
from rollout.kube.event_recorder import EventRecorder
from rollout.kube.mirror import KubeSpecMirror
from rollout.kube.readiness import DeploymentReadiness
from rollout.kube.rollout_resource import SHOWN_PHASES
from rollout.kube.secrets import KubeSecretResolver
from rollout.kube.shard_election import ShardElection
from rollout.kube.store import KubeStateStore
from rollout.kube.workloads import KubeWorkloads
from rollout.kubeapi.client import api_client
from rollout.leader_work import LeaderWork
from rollout.mesh.factory import new_router
from rollout.metrics.analyzer import MetricsAnalyzer
from rollout.metrics.batch import DEFAULT_INTERVAL, BatchedQueries
from rollout.metrics.batch_range import BatchedRanges
from rollout.metrics.look_back import LookBack
from rollout.metrics.prometheus import PrometheusProvider
from rollout.notify.dispatch import AlertDispatcher, AlertResult
from rollout.notify.factory import EnvSecretResolver
from rollout.notify.hooks import HttpHookCaller
from rollout.reconcile import Ports, Reconciler
from rollout.scheduler import Scheduler
from rollout.server.conditions import Conditions
from rollout.server.http import ControllerServer
from rollout.server.metrics import ControllerMetrics
from rollout.settings import ControllerSettings, spec_source_for, write_back_for
from rollout.shards import ShardPlan

__all__ = ["DASHBOARD_PATH", "Controller", "ControllerSettings"]

DASHBOARD_PATH = "/dashboard"

log = logging.getLogger("rollout.controller")


class Controller:
    def __init__(self, settings: ControllerSettings, *, clock: Callable[[], float] = time.time):
        if settings.source == "git" and not settings.git_url:
            raise RolloutError("git mode needs a repository URL (--git-url)")
        self.settings = settings
        self.metrics = ControllerMetrics(known_phases=SHOWN_PHASES)
        self.api = api_client(kubeconfig=settings.kubeconfig, context=settings.context)
        self.api.user_agent = f"rollout-controller/{__version__} ({settings.identity})"
        self.store = store = KubeStateStore(self.api)
        events = EventRecorder(self.api)
        secrets = KubeSecretResolver(self.api, env=EnvSecretResolver())
        self.dispatcher = AlertDispatcher(resolver=secrets, on_result=self._count_alert)
        self.hooks = HttpHookCaller(resolver=secrets)
        prometheus = PrometheusProvider(settings.prometheus)
        self.router = new_router(settings.router, self.api)
        self.readiness = DeploymentReadiness(self.api)
        self.workloads = KubeWorkloads(self.api, self.readiness.cache)
        reconciler = Reconciler(
            Ports(
                store=store,
                router=self.router,
                readiness=self.readiness,
                analyzer=MetricsAnalyzer(
                    prometheus,
                    batch=BatchedQueries(prometheus, interval=DEFAULT_INTERVAL),
                    look_back=LookBack(ranges=BatchedRanges(prometheus)),
                ),
                alerts=self.dispatcher,
                events=events,
                clock=clock,
                hooks=self.hooks,
                workloads=self.workloads,
            )
        )
        self.source = spec_source_for(settings, KubeSpecMirror(store))
        self._namespace = settings.namespace if settings.source == "cluster" else None
        self.write_back = (
            write_back_for(settings, store, events, self._written_back, self.metrics)
            if settings.source == "git"
            else None
        )
        self.work = LeaderWork(
            source=self.source,
            store=store,
            reconciler=reconciler,
            metrics=self.metrics,
            conditions=(conditions := Conditions(self.metrics)),
            jobs=lambda: self.scheduler,
            resync_interval=settings.resync_interval,
            write_back=self.write_back,
            namespace=self._namespace,
            owns=self.owns,
        )
        self.scheduler = self._new_scheduler()
        self.server = ControllerServer(
            metrics=self.metrics,
            conditions=conditions,
            host=settings.listen_host,
            port=settings.listen_port,
            is_alive=self._alive,
            on_push=self._on_push,
            hook_secret=settings.hook_secret,
            extra_routes=self._dashboard_routes(),
        )
        self.plan = ShardPlan(settings.shards, settings.replicas, settings.replica_ordinal)
        self.election = (
            ShardElection(
                self.api,
                settings.lease_namespace,
                settings.lease_name,
                settings.identity,
                self.plan,
                on_gained=self._gained_shard,
                on_lost=self._lost_shard,
            )
            if settings.leader_election
            else None
        )
        self._lock = threading.Lock()
        self._leading = False
        self._shards: set[int] = set()
        self._stopped = threading.Event()

    def _dashboard_routes(self) -> list[BaseRoute]:
        """``/dashboard`` when asked for: people sign in with a Kubernetes token, and RBAC
        on rollouts decides what each sees and does (docs/dashboard.md)."""
        if not self.settings.dashboard:
            return []
        reads = DashboardReads(self.api, self.store)
        gate = KubernetesSignIn(KubeAccessReview(self.api))
        return [Mount(DASHBOARD_PATH, app=dashboard_app(reads, gate))]

    # ---- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        self.server.start()
        log.info("serving probes, metrics and hooks on port %d", self.server.port)
        if self.settings.dashboard:
            log.info(
                "dashboard at %s%s/ (sign in with a Kubernetes token)",
                self.server.url,
                DASHBOARD_PATH,
            )
        if self.election is not None:
            # a follower is ready to take over; the leader is ready after its first sync
            self.server.mark_ready()
            self.election.start()
        else:
            self._start_leading()

    def stop(self) -> None:
        self._stopped.set()
        if self.election is not None:
            self.election.stop()
        else:
            self._stop_leading()
        self.dispatcher.close()
        self.hooks.close()
        if self.write_back is not None:
            self.write_back.close()
        self.server.stop()
        self.source.close()

    def wait(self) -> None:
        self._stopped.wait()

    @property
    def is_leader(self) -> bool:
        """Holding at least one shard (the Lease, with one shard) by our own record and,
        with election on, by the Lease's clock too: a stuck election thread stops us acting
        at its renew deadline."""
        if self.election is not None and not self.election.held():
            return False
        return self._leading

    def owns(self, key: str) -> bool:
        """Whether this replica may write the rollout ``namespace/name`` now."""
        if self.election is None:
            return self._leading
        shard = self.plan.shard_of(key)
        return self._leading and shard in self._shards and self.election.holds(shard)

    def _gained_shard(self, shard: int) -> None:
        with self._lock:
            self._shards.add(shard)
            first = not self._leading
        log.info("%s holds shard %d of %d", self.settings.identity, shard, self.plan.shards)
        if first:
            self._start_leading()
        elif self.is_leader:
            self.scheduler.trigger_sync()  # the shard's rollouts join at the sync

    def _lost_shard(self, shard: int) -> None:
        """Stop running the shard's rollouts; return once none of them is running (the
        Lease is released, or left to expire, only after this)."""
        with self._lock:
            self._shards.discard(shard)
            last = not self._shards
        log.info("%s gave up shard %d", self.settings.identity, shard)
        if last:
            self._stop_leading()
            return
        keys = {key for key in self.scheduler.rollouts() if self.plan.shard_of(key) == shard}
        self.scheduler.drop(keys)

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
        """List and watch what every tick reads: Rollouts, Istio objects, Deployments,
        HorizontalPodAutoscalers."""
        self.store.cache.watch(self._namespace, on_change=self._rollout_changed)
        self.readiness.start_cache()
        try:
            self.workloads.start_cache()
        except RolloutError as error:
            log.warning("autoscalers are read from the API server, not a cache: %s", error)
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
            on_skipped_ticks=self.metrics.count_skipped_ticks,
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
            self.workloads.stop_cache()
            self.work.stopped_leading()
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

    # ---- what the scheduler runs, as leader only ---------------------------------------

    def sync(self) -> None:
        """Read the spec source, mirror valid specs, and make the rollout jobs match."""
        if self.is_leader and self.work.sync():
            self.server.mark_ready()

    def run_rollout(self, key: str) -> None:
        if self.owns(key):
            self.work.run_rollout(key)

    def _rollout_changed(
        self, key: tuple[str, str], old: dict[str, Any] | None, new: dict[str, Any] | None
    ) -> None:
        if self.is_leader:
            self.work.rollout_changed(key, old, new)
