"""Building a Kubernetes ``ApiClient``: from a kubeconfig (path and context) or in-cluster.

Every adapter that talks to the cluster takes an ``ApiClient`` built here, so there is one
place that decides where the cluster is, and one place that turns a missing or broken
configuration into a :class:`~rollout.errors.ClusterError` instead of a traceback. The
local API server is reached the same way, from the kubeconfig it writes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, cast

import yaml
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from rollout.errors import ClusterError
from rollout.kubeapi import errors

__all__ = [
    "REQUEST_TIMEOUT",
    "api_client",
    "as_json",
    "default_namespace",
    "in_cluster_available",
    "json_object",
]

REQUEST_TIMEOUT: tuple[float, float] = (5.0, 30.0)
"""(connect, read) seconds for every ordinary API call; watches set their own."""
POOL_SIZE = 64
"""Connections kept open to the API server: the workers (32 by default), the sync's mirror
writers and the caches' watches at once (the client's default, five per core, overflowed:
every request past it opened a new connection and threw it away)."""

_SERVICE_HOST_ENV = "KUBERNETES_SERVICE_HOST"
_SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def in_cluster_available() -> bool:
    """True inside a pod with a service account (the environment a real controller runs in)."""
    return (
        bool(os.environ.get(_SERVICE_HOST_ENV))
        and Path("/var/run/secrets/kubernetes.io/serviceaccount/token").is_file()
    )


def _default_kubeconfig() -> Path | None:
    from_env = os.environ.get("KUBECONFIG", "")
    for candidate in from_env.split(os.pathsep):
        if candidate and Path(candidate).expanduser().is_file():
            return Path(candidate).expanduser()
    default = Path(k8s_config.KUBE_CONFIG_DEFAULT_LOCATION).expanduser()
    return default if default.is_file() else None


def api_client(
    *,
    kubeconfig: str | Path | None = None,
    context: str | None = None,
    in_cluster: bool | None = None,
) -> k8s_client.ApiClient:
    """An ``ApiClient`` for the cluster.

    - ``in_cluster=True``: the pod's service account, or an error outside a pod;
    - a ``kubeconfig`` path (and optional ``context``): that file;
    - neither: ``$KUBECONFIG`` or ``~/.kube/config`` when present, else in-cluster.
    """
    if in_cluster:
        return _in_cluster_client()
    path = Path(kubeconfig).expanduser() if kubeconfig is not None else _default_kubeconfig()
    if path is None:
        if in_cluster is None and in_cluster_available():
            return _in_cluster_client()
        raise ClusterError(
            "no Kubernetes configuration: pass --kubeconfig, set KUBECONFIG, "
            "or run inside a cluster"
        )
    if not path.is_file():
        raise ClusterError(f"kubeconfig {path} does not exist")
    configuration = k8s_client.Configuration()
    with errors.translated(f"loading kubeconfig {path}"):
        k8s_config.load_kube_config(
            config_file=str(path),
            context=context,
            client_configuration=configuration,
            persist_config=False,
        )
    return _pooled(configuration)


def _pooled(configuration: k8s_client.Configuration) -> k8s_client.ApiClient:
    configuration.connection_pool_maxsize = POOL_SIZE
    return k8s_client.ApiClient(configuration)


def default_namespace(*, kubeconfig: str | Path | None = None, context: str | None = None) -> str:
    """The namespace a command acts in when none is given, as kubectl chooses it: the
    kubeconfig context's namespace, else the pod's own namespace in a cluster, else
    ``default``. An unreadable configuration gives ``default``; building the client reports
    it properly."""
    path = Path(kubeconfig).expanduser() if kubeconfig is not None else _default_kubeconfig()
    if path is None:
        if in_cluster_available() and _SERVICE_ACCOUNT_NAMESPACE.is_file():
            return _SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or "default"
        return "default"
    try:
        contexts, active = k8s_config.list_kube_config_contexts(config_file=str(path))
    except (k8s_config.ConfigException, yaml.YAMLError, OSError, ValueError, TypeError):
        return "default"
    chosen = next((c for c in contexts or [] if c.get("name") == context), None) or active
    namespace = ((chosen or {}).get("context") or {}).get("namespace")
    return str(namespace) if namespace else "default"


def _in_cluster_client() -> k8s_client.ApiClient:
    configuration = k8s_client.Configuration()
    with errors.translated("loading the in-cluster configuration"):
        k8s_config.load_incluster_config(client_configuration=configuration)
    return _pooled(configuration)


def as_json(api: k8s_client.ApiClient, model: object) -> dict[str, Any]:
    """A typed client model (``V1Deployment``...) as the JSON the server sent."""
    serialized = api.sanitize_for_serialization(model)
    return cast(dict[str, Any], serialized) if isinstance(serialized, dict) else {}


def json_object(value: object) -> dict[str, Any]:
    """The dict a ``CustomObjectsApi`` call returns (typed ``object`` by the client)."""
    if not isinstance(value, dict):
        raise TypeError(f"expected a JSON object from the API, got {type(value).__name__}")
    return cast(dict[str, Any], value)
