"""Managed versions in ``rollout demo --scenario managed``: the Deployment controller and
the kubelet the local API server does not have.

The spec names a template Deployment (``checkout-template``, made here at 0 replicas), and
the controller makes each new version's Deployment from it and scales it through the
``scale`` subresource. ``DemoWorkloads`` watches the namespace's Deployments (by polling,
through its own client) and acts as a cluster would:

- a version's Deployment with replicas and no running service: its service is started
  behind Envoy and warmed up (``DemoStack.run_version``), then the Deployment's status
  says its replicas are ready (one process stands for every replica);
- a Deployment scaled to zero: its service is stopped and the status says 0;
- every change of a version's replicas is a point ``[seconds, replicas]`` of its
  timeline (seconds from the demo's start): the ``replicas`` of ``--json``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any, cast

import kubernetes

from rollout.errors import RolloutError
from rollout.kubeapi.client import api_client
from rollout_local.demo.cluster import NAMESPACE, SERVICE
from rollout_local.demo.service import Behaviour
from rollout_local.demo.stack import DemoStack

__all__ = ["TEMPLATE", "DemoWorkloads", "managed_block", "managed_versions"]

log = logging.getLogger(__name__)

TEMPLATE = f"{SERVICE}-template"
KEEP_STABLE_SECONDS = 15
RETIRE_TIMEOUT = 60.0


def managed_block() -> dict[str, Any]:
    """The spec's ``workload.managed`` in the demo: 2 stable replicas, the old stable kept
    for 15 s after a promotion, a rolled-back canary scaled to zero at once."""
    return {
        "template": TEMPLATE,
        "image": f"demo/{SERVICE}:{{version}}",
        "replicas": 2,
        "minReplicas": 1,
        "keepStable": f"{KEEP_STABLE_SECONDS}s",
        "scaleDownDelay": "0s",
    }


@contextlib.contextmanager
def managed_versions(
    stack: DemoStack, managed: bool, started_at: float
) -> Iterator[DemoWorkloads | None]:
    """Within the block, ``DemoWorkloads`` on ``stack`` when the scenario is managed."""
    if not managed:
        yield None
        return
    made = DemoWorkloads(stack, started_at=started_at).start()
    stack.note(f"managed versions: the controller makes each version from {TEMPLATE}")
    try:
        yield made
    finally:
        made.stop()


def _template() -> dict[str, Any]:
    labels = {"app": SERVICE}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": TEMPLATE, "labels": labels},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": f"demo/{SERVICE}:template"}]},
            },
        },
    }


class DemoWorkloads:
    """Runs each version's service while its Deployment has replicas; see the module."""

    every = 0.2

    def __init__(self, stack: DemoStack, *, started_at: float) -> None:
        self._stack = stack
        self._api = api_client(kubeconfig=stack.kubeconfig)
        self._apps = kubernetes.client.AppsV1Api(self._api)
        self._started_at = started_at
        self.behaviours: dict[str, Behaviour] = {}
        self.running = set(stack.services)
        self.replicas: dict[str, list[list[float]]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="demo-workloads", daemon=True)

    def expect(self, version: str, behaviour: Behaviour) -> None:
        """``version`` is about to be pushed: its DestinationRule subset and preview route
        are added (as a platform team's manifests would have them), and its service will
        behave as ``behaviour`` once the controller has made and scaled its Deployment."""
        self._stack.cluster.add_version(version, deployment=False)
        self.behaviours[version] = behaviour

    def start(self) -> DemoWorkloads:
        """Make the template Deployment and start watching."""
        self._apps.create_namespaced_deployment(NAMESPACE, cast(Any, _template()))
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self._api.close()

    def latest(self, version: str) -> int | None:
        """The replicas last seen for ``version``'s Deployment."""
        with self._lock:
            points = self.replicas.get(version)
            return int(points[-1][1]) if points else None

    def wait_retired(self) -> None:
        """Wait until every version but the stable one is at zero replicas: the old stable
        after its keep window, a rolled-back version at once."""
        deadline = time.monotonic() + KEEP_STABLE_SECONDS + RETIRE_TIMEOUT
        while True:
            with self._lock:
                versions = list(self.replicas)
            serving = [v for v in versions if self.latest(v)]
            if len(serving) <= 1:
                self._stack.note(f"only {', '.join(serving) or 'nothing'} has replicas now")
                return
            if time.monotonic() > deadline:
                raise RolloutError(f"still running after the keep window: {', '.join(serving)}")
            time.sleep(self.every)

    def timeline(self) -> dict[str, list[list[float]]]:
        with self._lock:
            return {version: [list(p) for p in points] for version, points in self.replicas.items()}

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.settle()
            except kubernetes.client.ApiException as error:
                log.debug("demo workloads: %s; next round", error)

    def settle(self) -> None:
        """One round over the namespace's Deployments."""
        deployments: list[Any] = self._apps.list_namespaced_deployment(NAMESPACE).items
        for deployment in deployments:
            name = str(deployment.metadata.name)
            if name == TEMPLATE or not name.startswith(f"{SERVICE}-"):
                continue
            version = name.removeprefix(f"{SERVICE}-")
            wanted = int(deployment.spec.replicas or 0)
            self._record(version, wanted)
            if wanted and version not in self.running and version in self.behaviours:
                self._stack.note(f"{name} has {wanted} replica(s): starting {version}'s service")
                self._stack.run_version(version, self.behaviours[version])
                self.running.add(version)
            elif not wanted and version in self.running:
                self._stack.note(f"{name} scaled to 0: stopping {version}'s service")
                self._stack.stop_version(version)
                self.running.discard(version)
            ready = wanted if version in self.running else 0
            self._write_status(deployment, wanted, ready)

    def _record(self, version: str, wanted: int) -> None:
        with self._lock:
            points = self.replicas.setdefault(version, [])
            if not points or points[-1][1] != wanted:
                points.append([round(time.time() - self._started_at, 1), wanted])

    def _write_status(self, deployment: Any, wanted: int, ready: int) -> None:
        generation = deployment.metadata.generation
        status = deployment.status
        seen = (
            (status.observed_generation, status.replicas or 0, status.ready_replicas or 0)
            if status is not None
            else None
        )
        if seen == (generation, wanted, ready):
            return
        available = "True" if ready >= wanted else "False"
        body = {
            "status": {
                "observedGeneration": generation,
                "replicas": wanted,
                "updatedReplicas": wanted,
                "readyReplicas": ready,
                "availableReplicas": ready,
                "conditions": [
                    {"type": "Available", "status": available, "reason": "DemoWorkloads"}
                ],
            }
        }
        self._apps.patch_namespaced_deployment_status(deployment.metadata.name, NAMESPACE, body)
