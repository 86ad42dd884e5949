"""A HorizontalPodAutoscaler in the end-to-end tests: the object, a stand-in for the HPA
controller, and a watch on where it points.

Neither test server runs kube-controller-manager, so nothing would ever act on an HPA.
``AutoscalerStandIn`` does what the HPA controller does with a steady load: it keeps the
replicas of whatever Deployment the HPA targets at ``REPLICAS`` (through the ``scale``
subresource, with its own admin client), and counts each write, so a controller that
fought it over replicas shows as more than one write per target. ``TargetWatch`` reads the
HPA and its target every 50 ms for the whole test and records every moment the target was
missing or at zero replicas, and the targets it saw in order.
"""

from __future__ import annotations

import collections
import time
from typing import Any

import kubernetes

from tests.e2e.deployments import Poller

__all__ = ["AUTOSCALER", "REPLICAS", "AutoscalerStandIn", "TargetWatch", "autoscaler"]

AUTOSCALER = "checkout"
REPLICAS = 3
"""What the stand-in HPA controller sizes its target to (the spec asks 4 of a stable)."""


def autoscaler(target: str) -> dict[str, Any]:
    """The checkout HPA, targeting the Deployment ``target``."""
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": AUTOSCALER},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "minReplicas": REPLICAS,
            "maxReplicas": 10,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 80},
                    },
                }
            ],
        },
    }


def _target(api: kubernetes.client.ApiClient, namespace: str) -> str:
    hpa = kubernetes.client.AutoscalingV2Api(api).read_namespaced_horizontal_pod_autoscaler(
        AUTOSCALER, namespace
    )
    return str(hpa.spec.scale_target_ref.name)


class AutoscalerStandIn(Poller):
    """Keeps the HPA's target at ``REPLICAS``; ``writes`` counts the writes per target."""

    every = 0.2

    def __init__(self, api: kubernetes.client.ApiClient, namespace: str) -> None:
        super().__init__(api, namespace)
        self.writes: collections.Counter[str] = collections.Counter()

    def round(self) -> None:
        target = _target(self.api, self.namespace)
        scale = self.apps.read_namespaced_deployment_scale(target, self.namespace)
        if scale.spec is None or scale.spec.replicas != REPLICAS:
            self.apps.patch_namespaced_deployment_scale(
                target, self.namespace, {"spec": {"replicas": REPLICAS}}
            )
            self.writes[target] += 1


class TargetWatch(Poller):
    """Every 50 ms: the HPA's target, and whether it exists with replicas."""

    every = 0.05

    def __init__(self, api: kubernetes.client.ApiClient, namespace: str) -> None:
        super().__init__(api, namespace)
        self.targets: list[str] = []
        self.rounds = 0
        self.broken: list[str] = []

    def round(self) -> None:
        target = _target(self.api, self.namespace)
        if not self.targets or self.targets[-1] != target:
            self.targets.append(target)
        self.rounds += 1
        try:
            replicas = self.apps.read_namespaced_deployment(target, self.namespace).spec.replicas
        except kubernetes.client.ApiException as error:
            self.broken.append(f"{time.time():.2f}: {target}: HTTP {error.status}")
            return
        if not replicas:
            self.broken.append(f"{time.time():.2f}: {target} at {replicas} replicas")
