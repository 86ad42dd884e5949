"""The cluster objects of ``rollout demo``, written through the official ``kubernetes`` client.

The demo's cluster is the project's local API server; what a platform team would have
applied to a real one is applied here the same way:

- the Rollout CRD (``manifests/crd.yaml`` in a source checkout, else generated from the
  spec model, which is what that file is generated from);
- the ``checkout`` VirtualService (all traffic on the first version) and its
  DestinationRule, whose subsets grow as versions are deployed;
- a ``checkout-preview`` VirtualService with one header-matched route per deployed version,
  the usual smoke-test route: the demo warms each new version up through it, so Envoy has
  the version's statistics (and Prometheus its series) before the canary gets traffic;
- one Deployment per version, whose status is marked Available as a Deployment controller
  would once the version's demo service answers;
- the Secret holding the alert URL.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes
import yaml

from rollout.errors import ClusterError
from rollout.kube import crd_schema
from rollout.kubeapi.client import api_client

__all__ = [
    "ALERT_SECRET",
    "NAMESPACE",
    "PREVIEW_HEADER",
    "PREVIEW_HOST",
    "SERVICE",
    "DemoCluster",
    "qualified_host",
]

NAMESPACE = "demo"
SERVICE = "checkout"
PREVIEW_HOST = f"{SERVICE}-preview"
PREVIEW_HEADER = "x-preview-version"
ALERT_SECRET = "demo-alerts"
_ISTIO = ("networking.istio.io", "v1")
_CRD_FILE = Path(__file__).resolve().parents[2] / "manifests" / "crd.yaml"

Json = dict[str, Any]


def qualified_host(service: str = SERVICE) -> str:
    return f"{service}.{NAMESPACE}.svc.cluster.local"


def rollout_crd() -> Json:
    """The CRD as shipped in ``manifests/``; generated from the model outside a checkout."""
    if _CRD_FILE.exists():
        document: Json = yaml.safe_load(_CRD_FILE.read_text())
        return document
    return crd_schema.rollout_crd()


def version_deployment(app: str, version: str, *, namespace: str | None = None) -> Json:
    """The Deployment ``<app>-<version>``: one pod labelled ``app`` and ``version`` (what a
    DestinationRule subset and a Service selector pick), image ``<app>:<version>``."""
    labels = {"app": app, "version": version}
    metadata: Json = {"name": f"{app}-{version}", "labels": labels}
    if namespace is not None:
        metadata["namespace"] = namespace
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": f"{app}:{version}"}]},
            },
        },
    }


class DemoCluster:
    """Creates and reads the demo's objects; every call is one or two API requests."""

    def __init__(self, kubeconfig: Path) -> None:
        self.api = api_client(kubeconfig=kubeconfig)
        self._custom = kubernetes.client.CustomObjectsApi(self.api)
        self._apps = kubernetes.client.AppsV1Api(self.api)
        self._versions: list[str] = []

    def close(self) -> None:
        self.api.close()

    def _call(self, what: str, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except kubernetes.client.ApiException as error:
            raise ClusterError(f"{what}: HTTP {error.status} {error.reason}") from None

    # -- installing ------------------------------------------------------------------------

    def install(self, *, first_version: str, alert_url: str) -> None:
        """The namespace, the CRD, the Istio objects routing everything to
        ``first_version``, and the Secret."""
        core = kubernetes.client.CoreV1Api(self.api)
        self._call(
            f"creating the namespace {NAMESPACE}",
            lambda: core.create_namespace(_body({"metadata": {"name": NAMESPACE}})),
        )
        extensions = kubernetes.client.ApiextensionsV1Api(self.api)
        self._call(
            "installing the Rollout CRD",
            lambda: extensions.create_custom_resource_definition(_body(rollout_crd())),
        )
        host = qualified_host()
        self._create_istio(
            "virtualservices",
            {
                "metadata": {"name": SERVICE, "labels": {"app": SERVICE}},
                "spec": {
                    "hosts": [SERVICE],
                    "http": [
                        {
                            "name": "primary",
                            "route": [{"destination": {"host": host, "subset": first_version}}],
                        }
                    ],
                },
            },
        )
        self._create_istio(
            "virtualservices",
            {
                "metadata": {"name": PREVIEW_HOST, "labels": {"app": SERVICE}},
                "spec": {"hosts": [PREVIEW_HOST], "http": []},
            },
        )
        self._create_istio(
            "destinationrules",
            {"metadata": {"name": SERVICE}, "spec": {"host": host, "subsets": []}},
        )
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": ALERT_SECRET},
            "stringData": {"slack-url": alert_url},
        }
        self._call(
            "creating the alerts Secret",
            lambda: core.create_namespaced_secret(NAMESPACE, _body(secret)),
        )

    def _create_istio(self, plural: str, body: Json) -> None:
        kind = "VirtualService" if plural == "virtualservices" else "DestinationRule"
        body = {"apiVersion": "/".join(_ISTIO), "kind": kind, **body}
        body["metadata"]["namespace"] = NAMESPACE
        self._call(
            f"creating {kind} {body['metadata']['name']}",
            lambda: self._custom.create_namespaced_custom_object(*_ISTIO, NAMESPACE, plural, body),
        )

    def _patch_istio(self, plural: str, name: str, patch: list[Json]) -> None:
        self._call(
            f"patching {plural}/{name}",
            lambda: self._custom.patch_namespaced_custom_object(
                *_ISTIO,
                NAMESPACE,
                plural,
                name,
                patch,
                _content_type="application/json-patch+json",
            ),
        )

    # -- one version -----------------------------------------------------------------------

    def add_version(self, version: str, *, deployment: bool = True) -> None:
        """The version's DestinationRule subset, preview route and (not yet ready) Deployment
        (none with ``deployment=False``: the controller makes a managed version's)."""
        if version in self._versions:
            return
        self._versions.append(version)
        subset = {"name": version, "labels": {"app": SERVICE, "version": version}}
        self._patch_istio("destinationrules", SERVICE, [_append("/spec/subsets", subset)])
        preview_route = {
            "name": f"preview-{version}",
            "match": [{"headers": {PREVIEW_HEADER: {"exact": version}}}],
            "route": [{"destination": {"host": qualified_host(), "subset": version}}],
        }
        self._patch_istio("virtualservices", PREVIEW_HOST, [_append("/spec/http", preview_route)])
        if not deployment:
            return
        made = version_deployment(SERVICE, version)
        self._call(
            f"creating Deployment {SERVICE}-{version}",
            lambda: self._apps.create_namespaced_deployment(NAMESPACE, _body(made)),
        )

    def mark_available(self, version: str) -> None:
        """What a Deployment controller writes once the version's one pod is ready."""
        status = {
            "status": {
                "observedGeneration": 1,
                "replicas": 1,
                "updatedReplicas": 1,
                "readyReplicas": 1,
                "availableReplicas": 1,
                "conditions": [
                    {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}
                ],
            }
        }
        self._call(
            f"marking Deployment {SERVICE}-{version} available",
            lambda: self._apps.patch_namespaced_deployment_status(
                f"{SERVICE}-{version}", NAMESPACE, status
            ),
        )

    # -- reading ---------------------------------------------------------------------------

    def route_weights(self) -> dict[str, int]:
        """Subset -> weight of the ``checkout`` VirtualService's primary route."""
        body: Json = self._call(
            "reading the VirtualService",
            lambda: self._custom.get_namespaced_custom_object(
                *_ISTIO, NAMESPACE, "virtualservices", SERVICE
            ),
        )
        route = body["spec"]["http"][0]["route"]
        if len(route) == 1:
            return {str(route[0]["destination"]["subset"]): int(route[0].get("weight", 100))}
        return {str(r["destination"]["subset"]): int(r.get("weight", 0)) for r in route}


def _body(document: Json) -> Any:
    """A plain dict as a request body: the client sends dicts as they are."""
    return document


def _append(path: str, value: Json) -> Json:
    return {"op": "add", "path": f"{path}/-", "value": value}
