"""The embedded stack's istiod: watch VirtualServices and DestinationRules, configure Envoy.

The controller changes traffic the way it would in a real mesh, by patching the weights of
a VirtualService through the Kubernetes API. In the embedded stack nothing else would turn
that object into proxy configuration, so this agent does: it lists and watches both kinds
through the official ``kubernetes`` client (as any controller would, against a real or the
local API server), keeps the current objects in memory, translates them with
``rollout_local.processes.envoy_config`` and pushes the result to an ``EnvoyProxy`` on every change.

Each kind is watched in its own thread: list, then watch from the list's resourceVersion
(with bookmarks), resume from the last version seen when a watch ends, and list again when
the server answers 410 Gone; connection errors are retried after a short delay. ``start()``
does the first list of both kinds itself and pushes the first config before returning, so
a caller can send traffic right away; ``stop()`` interrupts the open watches.

With ``gateway_api=True`` it also watches Gateway API HTTPRoutes and the Services they send
to, and routes them as the Istio objects that route the same way
(``rollout_local.processes.gateway_translation``): a Service stands for the pods its
selector picks, so when the controller points a Service at another version, or moves an
HTTPRoute's weights, Envoy follows.

Backend addresses are not in the Istio objects (a real mesh learns them from Endpoints), so
the caller registers where each ``(host, subset)`` listens, up front or later with
``set_backend``; a version whose backend is registered later is picked up then.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client, config, watch

from rollout.errors import ClusterError
from rollout_local.lifecycle import Lifecycle
from rollout_local.processes import envoy_config, gateway_translation
from rollout_local.processes.envoy_proxy import EnvoyError, EnvoyProxy

__all__ = ["ISTIO_GROUP", "MeshAgent"]

logger = logging.getLogger(__name__)

ISTIO_GROUP = "networking.istio.io"
GATEWAY_GROUP = "gateway.networking.k8s.io"
_KINDS = ("virtualservices", "destinationrules")
_GATEWAY_KINDS = ("httproutes", "services")
_GONE = 410

# The kubernetes package is untyped; these aliases give mypy the types this module relies on.
_new_client_from_config: Callable[..., client.ApiClient] = config.new_client_from_config
_new_watch: Callable[[], Any] = watch.Watch

Json = dict[str, Any]
_Key = tuple[str, str]


def _key(obj: Mapping[str, Any]) -> _Key:
    metadata = obj.get("metadata") or {}
    return str(metadata.get("namespace") or ""), str(metadata.get("name") or "")


class _Resync(Exception):
    """The watch's resourceVersion is too old (410 Gone): list again."""


class MeshAgent(Lifecycle):
    """Keeps one Envoy's routes and clusters in line with the Istio objects in the cluster.

    Give either an ``api_client`` or a ``kubeconfig`` path. ``namespace=None`` watches all
    namespaces. ``backends`` maps ``(qualified host, subset)`` to ``"127.0.0.1:<port>"``.
    """

    def __init__(
        self,
        *,
        proxy: EnvoyProxy,
        api_client: client.ApiClient | None = None,
        kubeconfig: str | Path | None = None,
        namespace: str | None = None,
        backends: Mapping[tuple[str, str], str] | None = None,
        api_version: str = "v1",
        watch_timeout: float = 60.0,
        retry_delay: float = 0.5,
        gateway_api: bool = False,
    ) -> None:
        if api_client is None:
            if kubeconfig is None:
                raise ValueError("an api_client or a kubeconfig path is needed")
            api_client = _new_client_from_config(config_file=str(kubeconfig))
        self._api = client.CustomObjectsApi(api_client)
        self._core = client.CoreV1Api(api_client)
        self._kinds = _KINDS + (_GATEWAY_KINDS if gateway_api else ())
        self._proxy = proxy
        self._namespace = namespace
        self._api_version = api_version
        self._watch_timeout = watch_timeout
        self._retry_delay = retry_delay
        self._backends: dict[tuple[str, str], str] = dict(backends or {})
        self._objects: dict[str, dict[_Key, Json]] = {kind: {} for kind in self._kinds}
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._responses: dict[str, Any] = {}
        self._last_pushed: tuple[Json, list[Json]] | None = None
        self._pushes = 0
        self._last_error: str | None = None
        self._warnings: list[str] = []

    # -- what the agent knows --------------------------------------------------------------

    @property
    def pushes(self) -> int:
        """How many distinct configurations were applied to Envoy so far."""
        with self._lock:
            return self._pushes

    @property
    def last_error(self) -> str | None:
        """The last failure to read the API or to configure Envoy, if any."""
        with self._lock:
            return self._last_error

    @property
    def warnings(self) -> list[str]:
        """What the last translation had to skip (e.g. a subset without backend)."""
        with self._lock:
            return list(self._warnings)

    def objects(self, kind: str) -> list[Json]:
        """The objects of one kind (``virtualservices``, ``destinationrules``, and with
        ``gateway_api`` ``httproutes`` and ``services``) as last seen."""
        with self._lock:
            return list(self._objects[kind].values())

    def set_backend(self, host: str, subset: str, address: str) -> None:
        """Register (or move) where one version listens, and push the new config."""
        envoy_config.BackendAddress.parse(address)
        with self._lock:
            self._backends[(host, subset)] = address
            self._push()

    def remove_backend(self, host: str, subset: str) -> None:
        with self._lock:
            self._backends.pop((host, subset), None)
            self._push()

    # -- pushing ---------------------------------------------------------------------------

    def _push(self) -> None:
        """Translate what is known and apply it, unless Envoy already has exactly that."""
        with self._lock:
            gateway = gateway_translation.as_istio(
                self._objects.get("httproutes", {}).values(),
                self._objects.get("services", {}).values(),
            )
            resources = envoy_config.translate(
                [*self._objects["virtualservices"].values(), *gateway.virtual_services],
                [*self._objects["destinationrules"].values(), *gateway.destination_rules],
                self._backends,
            )
            self._warnings = gateway.warnings + resources.warnings
            snapshot = (resources.routes, resources.clusters)
            if snapshot == self._last_pushed:
                return
            try:
                version = self._proxy.update(resources.routes, resources.clusters)
            except EnvoyError as error:
                self._last_error = f"Envoy refused the configuration: {error}"
                logger.error("%s", self._last_error)
                return
            self._last_pushed = snapshot
            self._pushes += 1
            logger.info(
                "envoy config %s: %d virtual hosts, %d clusters",
                version,
                len(resources.routes["virtual_hosts"]),
                len(resources.clusters),
            )

    # -- listing and watching --------------------------------------------------------------

    def _list_call(self, kind: str) -> Callable[..., Any]:
        """The list function for one kind, remembering each streaming response for stop()."""

        def call(**kwargs: Any) -> Any:
            result: Any
            if kind == "services":
                result = self._list_services(**kwargs)
            else:
                group = GATEWAY_GROUP if kind == "httproutes" else ISTIO_GROUP
                version = "v1" if kind == "httproutes" else self._api_version
                if self._namespace is None:
                    result = self._api.list_cluster_custom_object(group, version, kind, **kwargs)
                else:
                    result = self._api.list_namespaced_custom_object(
                        group, version, self._namespace, kind, **kwargs
                    )
            if kwargs.get("watch"):
                with self._lock:
                    self._responses[kind] = result
                if self._stopping.is_set():  # stop() may have missed this response
                    result.shutdown()
            return result

        return call

    def _list_services(self, **kwargs: Any) -> Any:
        """Services as plain dicts, like the custom objects (a watch decodes its own)."""
        if self._namespace is None:
            method: Callable[..., Any] = self._core.list_service_for_all_namespaces
        else:
            method = functools.partial(self._core.list_namespaced_service, self._namespace)
        if kwargs.get("watch"):
            return method(**kwargs)
        return json.loads(method(_preload_content=False, **kwargs).data)

    def _list(self, kind: str, *, push: bool = True) -> str:
        """Replace the known objects of one kind with a fresh list; return its resourceVersion."""
        listing = self._list_call(kind)()
        with self._lock:
            self._objects[kind] = {_key(item): item for item in listing.get("items", [])}
            if push:
                self._push()
        return str(listing.get("metadata", {}).get("resourceVersion") or "")

    def _watch_once(self, kind: str, resource_version: str) -> str:
        """Follow one watch until it ends; return the last resourceVersion seen."""
        watcher = _new_watch()
        try:
            for event in watcher.stream(
                self._list_call(kind),
                resource_version=resource_version,
                allow_watch_bookmarks=True,
                timeout_seconds=max(1, int(self._watch_timeout)),
            ):
                if self._stopping.is_set():
                    break
                obj: Json = event["raw_object"]
                resource_version = str(
                    obj.get("metadata", {}).get("resourceVersion") or resource_version
                )
                if event["type"] == "BOOKMARK":
                    continue
                with self._lock:
                    if event["type"] == "DELETED":
                        self._objects[kind].pop(_key(obj), None)
                    else:
                        self._objects[kind][_key(obj)] = obj
                    self._push()
        except client.ApiException as error:
            if error.status == _GONE:
                raise _Resync from None
            raise
        finally:
            watcher.stop()
            with self._lock:
                self._responses.pop(kind, None)
        return resource_version

    def _follow(self, kind: str, resource_version: str) -> None:
        """The watch thread of one kind: watch, resume, re-list on 410, retry on errors."""
        while not self._stopping.is_set():
            try:
                if not resource_version:
                    resource_version = self._list(kind)
                resource_version = self._watch_once(kind, resource_version)
            except _Resync:
                logger.info("watch of %s expired (410); listing again", kind)
                resource_version = ""
            except (client.ApiException, urllib3.exceptions.HTTPError, OSError) as error:
                if self._stopping.is_set():
                    break
                with self._lock:
                    self._last_error = f"watch of {kind} failed: {error}"
                logger.warning("%s; retrying in %.1fs", self._last_error, self._retry_delay)
                self._stopping.wait(self._retry_delay)
                resource_version = ""

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> MeshAgent:
        """List both kinds, push the first config, then watch in the background.

        Raises ``ClusterError`` when the first list fails (nothing is started then).
        """
        if self._threads:
            return self
        self._stopping.clear()
        versions: dict[str, str] = {}
        try:
            for kind in self._kinds:
                versions[kind] = self._list(kind, push=False)
        except (client.ApiException, urllib3.exceptions.HTTPError, OSError) as error:
            raise ClusterError(f"cannot list {kind}: {error}") from None
        self._push()
        self._threads = [
            threading.Thread(
                target=self._follow,
                args=(kind, versions[kind]),
                name=f"mesh-agent-{kind}",
                daemon=True,
            )
            for kind in self._kinds
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, *, timeout: float = 5.0) -> None:
        """Stop watching: interrupt the open watch requests and join the threads."""
        self._stopping.set()
        with self._lock:
            responses = list(self._responses.values())
        for response in responses:
            with contextlib.suppress(Exception):
                response.shutdown()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = [thread.name for thread in self._threads if thread.is_alive()]
        self._threads = []
        if alive:
            logger.warning("mesh agent threads still running after stop: %s", alive)
