"""The ``gateway-api`` scenario's cluster: checkout routed by a Gateway API HTTPRoute.

A platform team that routes by Gateway API has, instead of the ``checkout``
VirtualService, an HTTPRoute whose rule ``primary`` sends to the Service
``checkout-primary``, and a second Service, ``checkout-canary``, for the canary; both
select the pods of the stable version (``app: checkout, version: v1``). ``install``
replaces the VirtualService the stack made with those three objects; the mesh agent,
watching HTTPRoutes and Services, routes Envoy by them, and the controller moves the
HTTPRoute's weights and points the Services at versions.

``HTTPRouteWatch`` follows what the controller writes, so the demo's JSON can say, for each
step, the HTTPRoute's ``backendRef`` weights and the version each Service selected while
the step held, beside the canary share Envoy measured.
"""

from __future__ import annotations

import bisect
import dataclasses
import threading
import time
from typing import Any

import kubernetes

from rollout.errors import ClusterError
from rollout_local.demo.cluster import NAMESPACE, SERVICE
from rollout_local.demo.monitor import VersionRecord

__all__ = [
    "CANARY_SERVICE",
    "GATEWAY_GROUP",
    "STABLE_SERVICE",
    "HTTPRouteState",
    "HTTPRouteWatch",
    "install",
    "start_watch",
    "summary",
]

GATEWAY_GROUP = "gateway.networking.k8s.io"
STABLE_SERVICE = f"{SERVICE}-primary"
CANARY_SERVICE = f"{SERVICE}-canary"
RULE = "primary"

Json = dict[str, Any]


def _service(name: str, version: str) -> Json:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"app": SERVICE}},
        "spec": {
            "selector": {"app": SERVICE, "version": version},
            "ports": [{"name": "http", "port": 80, "targetPort": 8080}],
        },
    }


def _http_route() -> Json:
    return {
        "apiVersion": f"{GATEWAY_GROUP}/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": SERVICE, "namespace": NAMESPACE, "labels": {"app": SERVICE}},
        "spec": {
            "parentRefs": [{"name": "demo-gateway"}],
            "hostnames": [SERVICE],
            "rules": [
                {
                    "name": RULE,
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    "backendRefs": [{"name": STABLE_SERVICE, "port": 80}],
                }
            ],
        },
    }


def _body(document: Json) -> Any:
    """A plain dict as a request body: the client sends dicts as they are."""
    return document


def install(api: kubernetes.client.ApiClient, *, first_version: str) -> None:
    """Route checkout by an HTTPRoute instead of its VirtualService."""
    core = kubernetes.client.CoreV1Api(api)
    custom = kubernetes.client.CustomObjectsApi(api)
    try:
        custom.delete_namespaced_custom_object(
            "networking.istio.io", "v1", NAMESPACE, "virtualservices", SERVICE
        )
        for name in (STABLE_SERVICE, CANARY_SERVICE):
            core.create_namespaced_service(NAMESPACE, _body(_service(name, first_version)))
        custom.create_namespaced_custom_object(
            GATEWAY_GROUP, "v1", NAMESPACE, "httproutes", _http_route()
        )
    except kubernetes.client.ApiException as error:
        raise ClusterError(
            f"routing {SERVICE} by HTTPRoute: HTTP {error.status} {error.reason}"
        ) from None


@dataclasses.dataclass(frozen=True)
class HTTPRouteState:
    """The HTTPRoute's rule ``primary`` and the two Services, as read at one moment."""

    at: float
    weights: dict[str, int]
    """Service -> ``backendRef`` weight (a missing ``weight`` is Gateway API's 1)."""
    versions: dict[str, str]
    """Service -> the version its selector picks."""

    def summary(self) -> Json:
        return {"backend_weights": self.weights, "service_versions": self.versions}


class HTTPRouteWatch:
    """Reads the HTTPRoute and the Services every ``every`` seconds and keeps each change."""

    def __init__(self, api: kubernetes.client.ApiClient, *, every: float = 0.1) -> None:
        self._custom = kubernetes.client.CustomObjectsApi(api)
        self._core = kubernetes.client.CoreV1Api(api)
        self._every = every
        self._states: list[HTTPRouteState] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="httproute-watch", daemon=True)

    def start(self) -> HTTPRouteWatch:
        """Read once (so the first state is known), then keep reading in the background."""
        self._read()
        self._thread.start()
        return self

    def stop(self) -> list[HTTPRouteState]:
        """Stop reading; every state seen, in order."""
        self._stopping.set()
        self._thread.join(timeout=5)
        return self.states

    def _read(self) -> None:
        route: Any = self._custom.get_namespaced_custom_object(
            GATEWAY_GROUP, "v1", NAMESPACE, "httproutes", SERVICE
        )
        rule = next(r for r in route["spec"]["rules"] if r.get("name") == RULE)
        weights = {str(ref["name"]): int(ref.get("weight", 1)) for ref in rule["backendRefs"]}
        versions = {}
        for name in (STABLE_SERVICE, CANARY_SERVICE):
            spec = self._core.read_namespaced_service(name, NAMESPACE).spec
            selector = (spec.selector if spec is not None else None) or {}
            versions[name] = str(selector.get("version", ""))
        with self._lock:
            last = self._states[-1] if self._states else None
            if last is None or (last.weights, last.versions) != (weights, versions):
                self._states.append(HTTPRouteState(time.time(), weights, versions))

    def _run(self) -> None:
        while not self._stopping.wait(self._every):
            try:
                self._read()
            except (kubernetes.client.ApiException, OSError, StopIteration, KeyError):
                continue  # the next read tells; a step is judged on what was seen

    @property
    def states(self) -> list[HTTPRouteState]:
        with self._lock:
            return list(self._states)


def start_watch(api: kubernetes.client.ApiClient, *, enabled: bool) -> HTTPRouteWatch | None:
    """An ``HTTPRouteWatch``, started, when the demo routes by HTTPRoute."""
    return HTTPRouteWatch(api).start() if enabled else None


def summary(
    states: list[HTTPRouteState] | None, versions: list[VersionRecord], started_at: float
) -> Json:
    """The ``--json`` part of the ``gateway-api`` scenario: every change the controller made
    to the HTTPRoute and its Services (seconds from the start), and for each step of each
    version the HTTPRoute in force at the step's middle beside the canary share Envoy
    measured. Nothing when the demo did not route by HTTPRoute."""
    if states is None:
        return {}
    watch_steps = []
    for record in versions:
        for step in record.steps:
            middle = (step.started_at + (step.ended_at or step.started_at)) / 2
            state = _state_at(states, middle)
            share = step.measured_share
            watch_steps.append(
                {
                    "version": record.version,
                    "weight": step.weight,
                    "measured_share": round(share, 1) if share is not None else None,
                    "requests": step.total_requests,
                    **(state.summary() if state is not None else {}),
                }
            )
    return {
        "http_route": {
            "changes": [
                {"seconds": round(state.at - started_at, 2), **state.summary()} for state in states
            ],
            "steps": watch_steps,
            "final": states[-1].summary() if states else None,
        }
    }


def _state_at(states: list[HTTPRouteState], moment: float) -> HTTPRouteState | None:
    index = bisect.bisect_right([state.at for state in states], moment) - 1
    return states[index] if index >= 0 else None
