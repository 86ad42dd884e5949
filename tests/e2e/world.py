"""The world an end-to-end test runs in: a spec repository, the cluster objects, and traffic.

- ``SpecRepo``: a bare Git repository (the remote the controller clones) and a work tree
  the test commits and pushes rollout specs from, as a user would.
- ``install_app``: the Rollout CRD from ``manifests/`` (served before it returns), the
  ``shop`` and ``rollout-system`` namespaces, the app's VirtualService,
  DestinationRule and one Deployment per version, marked Available as a real Deployment
  controller would once its pods are ready.
- ``TrafficSimulator``: requests arriving at a steady rate, split between versions by the
  weights it reads from the live VirtualService (as the mesh would route them), each
  version failing and answering as slowly as the test says, counted in Istio's standard
  metrics by the test exporter that Prometheus scrapes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import math
import random
import subprocess
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import kubernetes
import yaml

from rollout_local.demo.cluster import version_deployment
from tests.kube_clients import as_body, custom_objects
from tests.kube_servers import create_namespaces, install_crd
from tests.metrics.exporter import IstioExporter

if TYPE_CHECKING:
    from rollout.controller import Controller

NAMESPACE = "shop"
HOOK_SECRET = "e2e-hook-secret"
CONTROLLER_NAMESPACE = "rollout-system"
"""Where the controller's Lease lives, as ``manifests/`` installs it."""
HOST = "checkout.shop.svc.cluster.local"
REPO_ROOT = Path(__file__).resolve().parents[2]
ALERT_SECRET = "rollout-alerts"
"""The Secret holding the Slack URL: the only name the shipped RBAC lets the controller read."""

SPEC = """\
apiVersion: canary.rollout.dev/v1alpha1
kind: Rollout
metadata:
  name: checkout
  namespace: shop
spec:
  version: {version}
  traffic:
    host: checkout.shop.svc.cluster.local
    destinationRule: checkout
    virtualServices:
      - name: checkout
  steps:
    - setWeight: 20
    - analyze: {{duration: {hold}}}
    - setWeight: 50
    - analyze: {{duration: {hold}}}
    - setWeight: 100
  analysis:
    interval: {interval}
    minSampleSize: 100
    maxInconclusive: 60
    policies:
      - name: istio-error-ratio
  alerts:
    - name: team-slack
      type: slack
      url:
        secretRef: {{name: rollout-alerts, key: slack-url}}
  progressDeadline: 2m
"""


def git(cwd: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)
    return result.stdout.strip()


class SpecRepo:
    """A remote repository and a clone the test pushes specs from."""

    def __init__(self, root: Path) -> None:
        self.remote = root / "specs.git"
        self.work = root / "work"
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(self.remote)], check=True)
        subprocess.run(["git", "clone", "-q", str(self.remote), str(self.work)], check=True)
        git(self.work, "config", "user.name", "Alice Example")
        git(self.work, "config", "user.email", "alice@example.test")
        git(self.work, "checkout", "-q", "-b", "main")

    @property
    def url(self) -> str:
        return f"file://{self.remote}"

    def push(
        self,
        version: str,
        *,
        hold: str = "3s",
        interval: str = "1s",
        write_back: bool = False,
        on_adopt: str | None = None,
    ) -> str:
        path = self.work / "rollouts" / "checkout.yaml"
        path.parent.mkdir(exist_ok=True)
        text = SPEC.format(version=version, hold=hold, interval=interval)
        if write_back:
            text += "  writeBack: {enabled: true}\n"
        if on_adopt is not None:
            text += f"  onAdopt: {on_adopt}\n"
        path.write_text(text)
        git(self.work, "add", ".")
        git(self.work, "commit", "-qm", f"checkout: roll out {version}")
        git(self.work, "push", "-q", "origin", "main")
        return git(self.work, "rev-parse", "HEAD")


def install_app(api: kubernetes.client.ApiClient, versions: list[str], alerts_url: str) -> None:
    """The CRD, the Istio objects, a ready Deployment per version, and the alerts Secret."""
    crd = yaml.safe_load((REPO_ROOT / "manifests" / "crd.yaml").read_text())
    install_crd(api, crd)
    create_namespaces(api, NAMESPACE, CONTROLLER_NAMESPACE)
    custom = custom_objects(api)
    custom.create_namespaced_custom_object(
        "networking.istio.io",
        "v1",
        NAMESPACE,
        "virtualservices",
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "VirtualService",
            "metadata": {"name": "checkout", "namespace": NAMESPACE, "labels": {"app": "checkout"}},
            "spec": {
                "hosts": [HOST],
                "http": [
                    {
                        "name": "primary",
                        "retries": {"attempts": 2, "perTryTimeout": "1s"},
                        "route": [
                            {"destination": {"host": HOST, "subset": versions[0]}, "weight": 100}
                        ],
                    }
                ],
            },
        },
    )
    custom.create_namespaced_custom_object(
        "networking.istio.io",
        "v1",
        NAMESPACE,
        "destinationrules",
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "DestinationRule",
            "metadata": {"name": "checkout", "namespace": NAMESPACE},
            "spec": {
                "host": HOST,
                "subsets": [{"name": v, "labels": {"version": v}} for v in versions],
            },
        },
    )
    apps = kubernetes.client.AppsV1Api(api)
    for version in versions:
        name = f"checkout-{version}"
        apps.create_namespaced_deployment(
            NAMESPACE, as_body(version_deployment("checkout", version, namespace=NAMESPACE))
        )
        apps.patch_namespaced_deployment_status(
            name,
            NAMESPACE,
            {
                "status": {
                    "observedGeneration": 1,
                    "replicas": 1,
                    "updatedReplicas": 1,
                    "readyReplicas": 1,
                    "availableReplicas": 1,
                }
            },
        )
    kubernetes.client.CoreV1Api(api).create_namespaced_secret(
        NAMESPACE,
        as_body(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": ALERT_SECRET},
                "stringData": {"slack-url": alerts_url},
            }
        ),
    )


def read_virtual_service(api: kubernetes.client.ApiClient) -> dict[str, Any]:
    custom = custom_objects(api)
    body: dict[str, Any] = custom.get_namespaced_custom_object(
        "networking.istio.io", "v1", NAMESPACE, "virtualservices", "checkout"
    )
    return body


def route_weights(virtual_service: dict[str, Any]) -> dict[str, int]:
    """Subset -> weight of the first http route (a single destination weighs 100)."""
    route = virtual_service["spec"]["http"][0]["route"]
    if len(route) == 1:
        return {route[0]["destination"]["subset"]: route[0].get("weight", 100)}
    return {entry["destination"]["subset"]: entry.get("weight", 0) for entry in route}


def read_rollout(api: kubernetes.client.ApiClient) -> dict[str, Any]:
    custom = custom_objects(api)
    body: dict[str, Any] = custom.get_namespaced_custom_object(
        "canary.rollout.dev", "v1alpha1", NAMESPACE, "rollouts", "checkout"
    )
    return body


def rollout_status(api: kubernetes.client.ApiClient) -> dict[str, Any]:
    """The Rollout's status; empty until the controller has mirrored the spec from Git."""
    try:
        status: dict[str, Any] = read_rollout(api).get("status") or {}
    except kubernetes.client.ApiException as error:
        if error.status == 404:
            return {}
        raise
    return status


class WeightWatch:
    """Every state of the VirtualService's first route, as a watch delivers it."""

    def __init__(self, api: kubernetes.client.ApiClient) -> None:
        self.api = api
        self.seen: list[dict[str, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> WeightWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        custom = custom_objects(self.api)
        version = ""
        while not self._stop.is_set():
            watch = kubernetes.watch.Watch()
            try:
                for event in watch.stream(
                    custom.list_namespaced_custom_object,
                    "networking.istio.io",
                    "v1",
                    NAMESPACE,
                    "virtualservices",
                    resource_version=version,
                    timeout_seconds=2,
                ):
                    body = event["object"]
                    version = body["metadata"]["resourceVersion"]
                    self.seen.append(route_weights(body))
                    if self._stop.is_set():
                        break
            except Exception:  # a 410 or a dropped stream: list again from now
                version = ""


@dataclasses.dataclass
class VersionBehaviour:
    error_rate: float = 0.001
    latency_ms: float = 20.0


class TrafficSimulator:
    """Requests at ``rate`` per second, routed by the live weights, counted in the exporter."""

    def __init__(
        self,
        api: kubernetes.client.ApiClient,
        exporter: IstioExporter,
        *,
        rate: float = 200.0,
        tick: float = 0.25,
        seed: int = 7,
    ) -> None:
        self.api = api
        self.exporter = exporter
        self.rate = rate
        self.tick = tick
        self.behaviour: dict[str, VersionBehaviour] = {}
        self.sent: dict[str, int] = {}
        self.invalid_weights: list[dict[str, int]] = []
        self._random = random.Random(seed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="traffic", daemon=True)

    def start(self) -> TrafficSimulator:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.tick):
            try:
                weights = route_weights(read_virtual_service(self.api))
            except Exception:  # the API server may be restarting; the next tick retries
                continue
            if sum(weights.values()) != 100:
                self.invalid_weights.append(weights)
                continue
            arrivals = self._poisson(self.rate * self.tick)
            subsets = list(weights)
            routed = Counter(
                self._random.choices(subsets, [weights[s] for s in subsets], k=arrivals)
            )
            for subset, share in routed.items():
                behaviour = self.behaviour.get(subset, VersionBehaviour())
                errors = sum(
                    1 for _ in range(share) if self._random.random() < behaviour.error_rate
                )
                workload = f"checkout-{subset}"
                if errors:
                    self.exporter.record(
                        workload,
                        namespace=NAMESPACE,
                        requests=errors,
                        code="500",
                        duration_ms=behaviour.latency_ms,
                    )
                self.exporter.record(
                    workload,
                    namespace=NAMESPACE,
                    requests=share - errors,
                    code="200",
                    duration_ms=behaviour.latency_ms,
                )
                self.sent[subset] = self.sent.get(subset, 0) + share

    def _poisson(self, mean: float) -> int:
        # Knuth's method is fine for the small means of one tick
        limit, product, count = math.exp(-mean), 1.0, 0
        while True:
            product *= self._random.random()
            if product <= limit:
                return count
            count += 1


def push_hook(controller: Controller, commit: str) -> int:
    """Post a push webhook signed like GitHub's, as the spec repository's host would."""
    body = json.dumps({"ref": "refs/heads/main", "after": commit}).encode()
    signature = "sha256=" + hmac.new(HOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        f"{controller.server.url}/hooks/git",
        data=body,
        headers={
            "X-Hub-Signature-256": signature,
            "X-GitHub-Event": "push",
            "Content-Type": "application/json",
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return int(response.status)


def phase_of(api: kubernetes.client.ApiClient) -> tuple[str, str, str]:
    """Phase, stable and canary version of the Rollout; empty strings before any status."""
    status = rollout_status(api)
    return status.get("phase", ""), status.get("stableVersion", ""), status.get("canaryVersion", "")


def wait_for(condition: Any, *, timeout: float, every: float = 0.25, what: str = "") -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
