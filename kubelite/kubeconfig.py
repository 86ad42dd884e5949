"""Kubeconfig files pointing a client at the local API server.

The file is an ordinary kubeconfig (one cluster, one user with a bearer token, one context
made current), so ``kubectl --kubeconfig PATH`` and
``kubernetes.config.new_client_from_config(PATH)`` reach the server exactly as they would a
real cluster. The server accepts any token and checks none.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

__all__ = ["kubeconfig_document", "write_kubeconfig"]

DEFAULT_CONTEXT = "rollout-local"
DEFAULT_TOKEN = "rollout-local-token"


def kubeconfig_document(
    *, server_url: str, context: str = DEFAULT_CONTEXT, namespace: str = "default"
) -> dict[str, Any]:
    """The kubeconfig as a mapping."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": {"server": server_url}}],
        "users": [{"name": context, "user": {"token": DEFAULT_TOKEN}}],
        "contexts": [
            {
                "name": context,
                "context": {"cluster": context, "user": context, "namespace": namespace},
            }
        ],
        "current-context": context,
        "preferences": {},
    }


def write_kubeconfig(
    path: str | Path,
    *,
    server_url: str,
    context: str = DEFAULT_CONTEXT,
    namespace: str = "default",
) -> Path:
    """Write the kubeconfig to ``path`` (parents created, mode 0600) and return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    document = kubeconfig_document(server_url=server_url, context=context, namespace=namespace)
    target.write_text(yaml.safe_dump(document, sort_keys=False))
    target.chmod(0o600)
    return target
