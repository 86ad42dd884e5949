"""Put a shared real control plane back to how it was, between tests.

Starting etcd and kube-apiserver costs seconds, so the test suite starts one per session
and resets it before each test. :class:`ClusterBaseline` remembers every object that exists
once the control plane is ready (plus whatever the suite installs for all tests, such as the
Istio CRDs); :meth:`ClusterBaseline.reset` deletes everything else, through the API only:

1. every namespaced object not in the baseline (custom resources included), found through
   aggregated discovery, one list per resource type;
2. every cluster-scoped object not in the baseline (ClusterRoles, ...), CRDs last, and waits
   until the CRDs are gone (their finalizer runs in kube-apiserver itself);
3. every namespace not in the baseline: deleted, then finalized through the ``finalize``
   subresource as the namespace controller would (no controller manager runs here), once
   step 1 has emptied it.

Objects the baseline already had are left as they are, even if a test changed them.
"""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

__all__ = ["ClusterBaseline", "ResourceType"]

_DISCOVERY = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
_CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


@dataclass(frozen=True)
class ResourceType:
    """One listable, deletable resource type at its group's preferred version."""

    prefix: str  # "/api/v1" or "/apis/GROUP/VERSION"
    plural: str
    namespaced: bool

    def collection(self, namespace: str = "") -> str:
        if namespace:
            return f"{self.prefix}/namespaces/{namespace}/{self.plural}"
        return f"{self.prefix}/{self.plural}"


Key = tuple[str, str, str]  # (collection path of the type, namespace, name)


class ClusterBaseline:
    """The objects a fresh cluster has; :meth:`reset` removes every other one."""

    def __init__(self, base_url: str, context: ssl.SSLContext) -> None:
        self._base_url = base_url
        self._context = context
        self._baseline: set[Key] = set()

    # -- HTTP ------------------------------------------------------------------------------

    def _call(
        self, method: str, path: str, body: Any = None, accept: str = "application/json"
    ) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self._base_url}{path}", data=data, method=method)
        request.add_header("Accept", accept)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        for attempt in range(20):
            try:
                with urllib.request.urlopen(request, timeout=30, context=self._context) as answer:
                    return json.loads(answer.read() or b"{}")
            except urllib.error.HTTPError as error:
                if error.code in (404, 409) and method in ("DELETE", "PUT"):
                    return None  # already gone, or already being finalized
                if error.code != 429 or attempt == 19:
                    raise
                time.sleep(0.1 * (attempt + 1))  # the server asked us to come back
        raise AssertionError("unreachable")

    # -- what is there ---------------------------------------------------------------------

    def resource_types(self) -> list[ResourceType]:
        """Every resource type that can be listed and deleted (aggregated discovery)."""
        found: list[ResourceType] = []
        for root in ("/api", "/apis"):
            document = self._call("GET", root, accept=_DISCOVERY)
            for group in document.get("items", []):
                group_name = group.get("metadata", {}).get("name", "")
                versions = group.get("versions", [])
                if not versions:
                    continue
                version = versions[0]  # the preferred version comes first
                prefix = (
                    f"/api/{version['version']}"
                    if not group_name
                    else f"/apis/{group_name}/{version['version']}"
                )
                for resource in version.get("resources", []):
                    verbs = set(resource.get("verbs", []))
                    if {"list", "delete"} <= verbs:
                        found.append(
                            ResourceType(
                                prefix=prefix,
                                plural=resource["resource"],
                                namespaced=resource.get("scope") == "Namespaced",
                            )
                        )
        return found

    def objects(self, types: list[ResourceType]) -> set[Key]:
        keys: set[Key] = set()
        for kind in types:
            listed = self._call("GET", kind.collection())
            for item in listed.get("items", []):
                meta = item.get("metadata", {})
                keys.add((kind.collection(), meta.get("namespace", ""), meta["name"]))
        return keys

    def remember(self) -> None:
        """Take everything that exists now as the baseline."""
        self._baseline = self.objects(self.resource_types())

    # -- reset -----------------------------------------------------------------------------

    def reset(self, *, timeout: float = 60.0) -> None:
        types = self.resource_types()
        extra = self.objects(types) - self._baseline
        if not extra:
            return
        by_collection = {kind.collection(): kind for kind in types}
        namespaced = [key for key in extra if by_collection[key[0]].namespaced]
        for collection, namespace, name in namespaced:
            kind = by_collection[collection]
            self._call("DELETE", f"{kind.collection(namespace)}/{name}")
        cluster_scoped = [key for key in extra if not by_collection[key[0]].namespaced]
        namespaces = [
            name for collection, _, name in cluster_scoped if collection == "/api/v1/namespaces"
        ]
        crds = [name for collection, _, name in cluster_scoped if collection == _CRDS]
        for collection, _, name in cluster_scoped:
            if collection not in ("/api/v1/namespaces", _CRDS):
                self._call("DELETE", f"{collection}/{name}")
        for name in crds:
            self._call("DELETE", f"{_CRDS}/{name}")
        for name in namespaces:
            self._finalize_namespace(name)
        self._wait_gone(
            [f"{_CRDS}/{name}" for name in crds] + [f"/api/v1/namespaces/{n}" for n in namespaces],
            timeout,
        )

    def _finalize_namespace(self, name: str) -> None:
        path = f"/api/v1/namespaces/{name}"
        self._call("DELETE", path)
        current = self._call("GET", path) if self._exists(path) else None
        if current is None:
            return
        current.setdefault("spec", {})["finalizers"] = []
        self._call("PUT", f"{path}/finalize", current)

    def _exists(self, path: str) -> bool:
        try:
            self._call("GET", path)
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return False
            raise
        return True

    def _wait_gone(self, paths: list[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pending = list(paths)
        while pending:
            pending = [path for path in pending if self._exists(path)]
            if not pending:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"still there after {timeout:.0f}s: {', '.join(pending)}")
            time.sleep(0.05)
