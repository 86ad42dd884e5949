"""The world the scale benchmark runs in: N services, their cluster objects, specs and metrics.

``bench.scale`` needs many services at once and cheaply, so this module builds them in bulk:

- ``SyntheticExporter``: Istio's standard request metrics for every workload, computed from
  the clock at scrape time (a steady request rate, one error in a thousand, every request
  20 ms), so no thread has to count requests and the shipped policies pass;
- ``install_services``: per service, a VirtualService, a DestinationRule with one subset per
  version and one Deployment per version marked ready, through the official client
  (``install_service_objects`` without the CRD and namespace, for a caller that made them);
- ``SpecRepo``: a bare Git repository holding one rollout spec per service (``SPEC``, or a
  template of the caller's), and a push of a new version for all of them in one commit.
"""

from __future__ import annotations

import http.server
import os
import subprocess
import time
from pathlib import Path

import kubernetes
import yaml

from rollout_local.demo.cluster import version_deployment
from rollout_local.lifecycle import ServingThread

NAMESPACE = "shop"
REPO_ROOT = Path(__file__).resolve().parents[1]
RATE_PER_SECOND = 5.0
"""Requests per second each workload serves (all versions, whatever the weights)."""
BUCKETS_MS = ("25", "100", "250", "1000")

SPEC_HEAD = """\
apiVersion: canary.rollout.dev/v1alpha1
kind: Rollout
metadata:
  name: {name}
  namespace: shop
spec:
  version: {version}
  traffic:
    host: {name}.shop.svc.cluster.local
    destinationRule: {name}
    virtualServices:
      - name: {name}
"""
"""A service's spec up to its steps (``{name}``, ``{version}`` filled in per push)."""
SPEC = (
    SPEC_HEAD
    + """\
  steps:
    - setWeight: 10
    - analyze: {duration: 30m}
    - setWeight: 100
  analysis:
    interval: 5s
""".replace("{", "{{").replace("}", "}}")
)
"""The benchmark's spec: every rollout stays in analysis at 10% for the whole run."""
IDENTITY = {
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.test",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.test",
}


def service_names(count: int) -> list[str]:
    return [f"svc-{index:05d}" for index in range(count)]


class SyntheticExporter:
    """``/metrics`` with Istio's request counters for ``workloads``, growing with time."""

    def __init__(self, workloads: list[str]) -> None:
        self._workloads = list(workloads)
        self._started = time.time()
        exporter = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = exporter.render().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self._serving = ServingThread(server, name="bench-exporter", poll_interval=0.1)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self._serving.port}"

    def render(self) -> str:
        total = int((time.time() - self._started) * RATE_PER_SECOND) + 1000
        errors = total // 1000
        lines = [
            "# TYPE istio_requests_total counter",
            "# TYPE istio_request_duration_milliseconds histogram",
        ]
        for name in self._workloads:
            labels = (
                f'reporter="source",destination_workload="{name}",'
                f'destination_workload_namespace="{NAMESPACE}",pod="{name}-0"'
            )
            lines.append(f'istio_requests_total{{{labels},response_code="200"}} {total - errors}')
            lines.append(f'istio_requests_total{{{labels},response_code="500"}} {errors}')
            for bound in (*BUCKETS_MS, "+Inf"):
                lines.append(
                    f'istio_request_duration_milliseconds_bucket{{{labels},le="{bound}"}} {total}'
                )
            lines.append(f"istio_request_duration_milliseconds_count{{{labels}}} {total}")
            lines.append(f"istio_request_duration_milliseconds_sum{{{labels}}} {total * 20}")
        return "\n".join(lines) + "\n"

    def close(self) -> None:
        self._serving.close()


def install_services(api: kubernetes.client.ApiClient, names: list[str]) -> None:
    """The CRD and the namespace, then every service's objects."""
    crd = yaml.safe_load((REPO_ROOT / "manifests" / "crd.yaml").read_text())
    kubernetes.client.ApiextensionsV1Api(api).create_custom_resource_definition(crd)
    kubernetes.client.CoreV1Api(api).create_namespace(
        {"metadata": {"name": NAMESPACE}}  # type: ignore[arg-type]
    )
    install_service_objects(api, names)


def install_service_objects(api: kubernetes.client.ApiClient, names: list[str]) -> None:
    """Per service its Istio objects and a ready Deployment per version (v1, v2)."""
    custom = kubernetes.client.CustomObjectsApi(api)
    apps = kubernetes.client.AppsV1Api(api)
    istio = ("networking.istio.io", "v1", NAMESPACE)
    for name in names:
        host = f"{name}.{NAMESPACE}.svc.cluster.local"
        route = {"destination": {"host": host, "subset": "v1"}, "weight": 100}
        custom.create_namespaced_custom_object(
            *istio,
            "virtualservices",
            {
                "apiVersion": "networking.istio.io/v1",
                "kind": "VirtualService",
                "metadata": {"name": name, "namespace": NAMESPACE},
                "spec": {"hosts": [host], "http": [{"name": "primary", "route": [route]}]},
            },
        )
        custom.create_namespaced_custom_object(
            *istio,
            "destinationrules",
            {
                "apiVersion": "networking.istio.io/v1",
                "kind": "DestinationRule",
                "metadata": {"name": name, "namespace": NAMESPACE},
                "spec": {
                    "host": host,
                    "subsets": [{"name": v, "labels": {"version": v}} for v in ("v1", "v2")],
                },
            },
        )
        for version in ("v1", "v2"):
            deployment = version_deployment(name, version, namespace=NAMESPACE)
            apps.create_namespaced_deployment(NAMESPACE, deployment)  # type: ignore[arg-type]
            apps.patch_namespaced_deployment_status(
                f"{name}-{version}",
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


def _git(cwd: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **IDENTITY},
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout.strip()


class SpecRepo:
    """A bare remote the controller clones, and a work tree the benchmark pushes from."""

    def __init__(self, root: Path, names: list[str], *, spec: str = SPEC) -> None:
        self.names = names
        self.spec = spec
        self.remote = root / "specs.git"
        self.work = root / "work"
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(self.remote)], check=True)
        clone = ["git", "clone", "-q", str(self.remote), str(self.work)]
        subprocess.run(clone, check=True, capture_output=True)
        _git(self.work, "checkout", "-q", "-b", "main")

    @property
    def url(self) -> str:
        return f"file://{self.remote}"

    def push(self, version: str) -> str:
        """Every service's spec at ``version``, in one commit; returns the commit."""
        folder = self.work / "rollouts"
        folder.mkdir(exist_ok=True)
        for name in self.names:
            (folder / f"{name}.yaml").write_text(self.spec.format(name=name, version=version))
        _git(self.work, "add", ".")
        _git(self.work, "commit", "-qm", f"roll out {version}")
        _git(self.work, "push", "-q", "origin", "main")
        return _git(self.work, "rev-parse", "HEAD")
