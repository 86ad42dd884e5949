"""A second rollout for the RBAC cycle, routed by a Gateway API HTTPRoute.

``storefront`` (namespace ``shop``) sends its traffic through the HTTPRoute ``storefront``
and the Services ``storefront-primary`` and ``storefront-canary``, so the cycle makes every
call the Gateway API router makes: the HTTPRoutes and Services listed and watched, the
Services' selectors and the HTTPRoute's weights patched.

- ``install``: the two Services (selecting v1's pods), the HTTPRoute, and one Deployment
  per version (``ReadyDeployments`` makes them ready);
- ``push_storefront``: commit and push the storefront spec at a version;
- ``GatewayTraffic``: requests at a steady rate routed as the live HTTPRoute's weights and
  the Services' selectors say, each counted for its version's workload in the exporter
  Prometheus scrapes (Istio's standard metrics), so the analysis has the canary's data.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from typing import Any

import kubernetes

from rollout_local.demo.cluster import version_deployment
from tests.e2e.world import NAMESPACE, SpecRepo, git
from tests.kube_clients import as_body, custom_objects
from tests.metrics.exporter import IstioExporter

__all__ = ["STOREFRONT", "GatewayTraffic", "install", "push_storefront", "storefront_status"]

STOREFRONT = "storefront"
GATEWAY_GROUP = "gateway.networking.k8s.io"
SERVICES = (f"{STOREFRONT}-primary", f"{STOREFRONT}-canary")

SPEC = f"""\
apiVersion: canary.rollout.dev/v1alpha1
kind: Rollout
metadata:
  name: {STOREFRONT}
  namespace: {NAMESPACE}
spec:
  version: {{version}}
  traffic:
    host: {STOREFRONT}.{NAMESPACE}.svc.cluster.local
    httpRoutes:
      - name: {STOREFRONT}
        stableService: {SERVICES[0]}
        canaryService: {SERVICES[1]}
  steps:
    - setWeight: 50
    - analyze: {{{{duration: 3s}}}}
  analysis:
    interval: 1s
    minSampleSize: 40
    maxInconclusive: 30
    policies:
      - name: istio-error-ratio
"""


def install(api: kubernetes.client.ApiClient, versions: list[str]) -> None:
    core = kubernetes.client.CoreV1Api(api)
    for name in SERVICES:
        service = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {
                "selector": {"app": STOREFRONT, "version": versions[0]},
                "ports": [{"port": 80, "targetPort": 8080}],
            },
        }
        core.create_namespaced_service(NAMESPACE, as_body(service))
    route = {
        "apiVersion": f"{GATEWAY_GROUP}/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": STOREFRONT, "namespace": NAMESPACE},
        "spec": {
            "parentRefs": [{"name": "public"}],
            "rules": [{"name": "primary", "backendRefs": [{"name": SERVICES[0], "port": 80}]}],
        },
    }
    custom_objects(api).create_namespaced_custom_object(
        GATEWAY_GROUP, "v1", NAMESPACE, "httproutes", route
    )
    apps = kubernetes.client.AppsV1Api(api)
    for version in versions:
        deployment = version_deployment(STOREFRONT, version, namespace=NAMESPACE)
        apps.create_namespaced_deployment(NAMESPACE, as_body(deployment))


def push_storefront(repo: SpecRepo, version: str) -> None:
    path = repo.work / "rollouts" / f"{STOREFRONT}.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(SPEC.format(version=version))
    git(repo.work, "add", str(path))
    git(repo.work, "commit", "-qm", f"{STOREFRONT}: roll out {version}")
    git(repo.work, "push", "-q", "origin", "main")


class GatewayTraffic:
    """About ``rate`` requests a second, split as the HTTPRoute and the Services route them."""

    def __init__(
        self, api: kubernetes.client.ApiClient, exporter: IstioExporter, *, rate: float = 100.0
    ) -> None:
        self._custom = custom_objects(api)
        self._core = kubernetes.client.CoreV1Api(api)
        self._exporter = exporter
        self._per_tick = max(1, round(rate / 4))
        self._random = random.Random(11)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gateway-traffic", daemon=True)
        self.sent: Counter[str] = Counter()

    def start(self) -> GatewayTraffic:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _split(self) -> dict[str, int]:
        """Version -> weight, as the live objects route."""
        route: Any = self._custom.get_namespaced_custom_object(
            GATEWAY_GROUP, "v1", NAMESPACE, "httproutes", STOREFRONT
        )
        split: Counter[str] = Counter()
        for ref in route["spec"]["rules"][0]["backendRefs"]:
            spec = self._core.read_namespaced_service(ref["name"], NAMESPACE).spec
            version = ((spec.selector if spec else None) or {}).get("version")
            if version:
                split[version] += int(ref.get("weight", 1))
        return dict(split)

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            try:
                split = self._split()
            except kubernetes.client.ApiException:
                continue  # the next tick reads again
            if not split or sum(split.values()) <= 0:
                continue
            versions = list(split)
            routed = Counter(
                self._random.choices(versions, [split[v] for v in versions], k=self._per_tick)
            )
            for version, requests in routed.items():
                self._exporter.record(
                    f"{STOREFRONT}-{version}",
                    namespace=NAMESPACE,
                    requests=requests,
                    code="200",
                    duration_ms=20.0,
                )
                self.sent[version] += requests


def storefront_status(api: kubernetes.client.ApiClient) -> tuple[str | None, str | None]:
    """(phase, stable version) of the storefront Rollout; Nones until it is mirrored."""
    try:
        body: Any = custom_objects(api).get_namespaced_custom_object(
            "canary.rollout.dev", "v1alpha1", NAMESPACE, "rollouts", STOREFRONT
        )
    except kubernetes.client.ApiException as error:
        if error.status == 404:
            return None, None
        raise
    status = body.get("status") or {}
    return status.get("phase"), status.get("stableVersion")
