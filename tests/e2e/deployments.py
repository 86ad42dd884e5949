"""Managed versions in the end-to-end tests: the spec and template, and a stand-in for the
Deployment controller and the kubelet.

``push_managed`` pushes the checkout spec of :mod:`tests.e2e.world` with
``workload.managed`` (4 stable replicas, the template ``TEMPLATE``, the old stable kept
``keep_stable``, sized by the HPA ``autoscaler`` when one is named), or its removal.

Neither test server runs kube-controller-manager, so a Deployment the controller makes
would never become ready. ``ReadyDeployments`` watches the Deployments of one namespace
(by polling, through its own admin client, so its requests are not the controller's) and
writes each one's status as the Deployment controller would once every pod is ready:
``observedGeneration`` and ``replicas``, ``updatedReplicas``, ``readyReplicas`` and
``availableReplicas`` equal to ``spec.replicas``.
"""

from __future__ import annotations

import threading
from typing import Any, Self

import kubernetes

from tests.e2e.world import SPEC, SpecRepo, git

__all__ = ["TEMPLATE", "Poller", "ReadyDeployments", "push_managed"]

MANAGED = """\
  workload:
    managed:
      template: checkout-template
      image: "checkout:{{version}}"
      replicas: 4
      keepStable: {keep_stable}
{autoscaler}"""
TEMPLATE = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "checkout-template"},
    "spec": {
        "replicas": 0,
        "selector": {"matchLabels": {"app": "checkout"}},
        "template": {
            "metadata": {"labels": {"app": "checkout"}},
            "spec": {"containers": [{"name": "app", "image": "checkout:template"}]},
        },
    },
}


def push_managed(
    repo: SpecRepo, version: str | None, *, keep_stable: str = "0s", autoscaler: str = ""
) -> None:
    """Commit and push the managed checkout spec at ``version``, or its removal (``None``)."""
    path = repo.work / "rollouts" / "checkout.yaml"
    path.parent.mkdir(exist_ok=True)
    if version is None:
        path.unlink()
        message = "checkout: stop managing the rollout"
    else:
        spec = SPEC.format(version=version, hold="3s", interval="1s")
        sized_by = f"      autoscaler: {autoscaler}\n" if autoscaler else ""
        managed = MANAGED.format(keep_stable=keep_stable, autoscaler=sized_by)
        path.write_text(spec.replace("  steps:\n", managed + "  steps:\n", 1))
        message = f"checkout: roll out {version}"
    git(repo.work, "add", "-A", ".")
    git(repo.work, "commit", "-qm", message)
    git(repo.work, "push", "-q", "origin", "main")


class Poller:
    """A daemon thread calling ``round`` every ``every`` seconds, within a ``with`` block;
    an ``ApiException`` (a conflict, an object deleted meanwhile) waits for the next round."""

    every = 0.2

    def __init__(self, api: kubernetes.client.ApiClient, namespace: str) -> None:
        self.api = api
        self.apps = kubernetes.client.AppsV1Api(api)
        self.namespace = namespace
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=type(self).__name__, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.round()
            except kubernetes.client.ApiException:
                continue

    def round(self) -> None:
        raise NotImplementedError


class ReadyDeployments(Poller):
    """Keeps every Deployment in ``namespace`` ready at its wanted replicas, until stopped."""

    def round(self) -> None:
        self.settle()

    def settle(self) -> None:
        """One round: every Deployment whose status is behind its spec is brought level."""
        listed = self.apps.list_namespaced_deployment(self.namespace)
        for deployment in listed.items:
            metadata, spec = deployment.metadata, deployment.spec
            assert metadata is not None and metadata.name is not None and spec is not None
            wanted = 1 if spec.replicas is None else spec.replicas
            status: dict[str, Any] = {
                "observedGeneration": metadata.generation,
                "replicas": wanted,
                "updatedReplicas": wanted,
                "readyReplicas": wanted,
                "availableReplicas": wanted,
            }
            current = deployment.status
            seen = (
                (current.observed_generation, current.ready_replicas or 0, current.replicas or 0)
                if current is not None
                else None
            )
            if seen == (metadata.generation, wanted, wanted):
                continue
            self.apps.patch_namespaced_deployment_status(
                metadata.name, self.namespace, {"status": status}
            )
