"""Reusable fixtures for tests that need a Kubernetes API: the project's local API server.

Inputs: nothing but a free port on 127.0.0.1. Outputs: ``apiserver`` (a started
:class:`~kubelite.LocalApiServer`, stopped after the test), ``kubeconfig``
(the path of a kubeconfig pointing at it) and ``api_client`` (a
``kubernetes.client.ApiClient`` built from that kubeconfig, closed after the test).

Any test folder can use them by importing the fixtures into its ``conftest.py``::

    from tests.kube_fixtures import api_client, apiserver, kubeconfig  # noqa: F401
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import kubernetes
import pytest

from kubelite import LocalApiServer

__all__ = ["api_client", "apiserver", "kubeconfig", "new_api_client"]


@pytest.fixture
def apiserver() -> Iterator[LocalApiServer]:
    """A local API server on a free port, with the Istio CRDs; stopped after the test."""
    with LocalApiServer(port=0, bookmark_interval=1.0) as server:
        yield server


@pytest.fixture
def kubeconfig(apiserver: LocalApiServer, tmp_path: Path) -> Path:
    """A kubeconfig file whose current context points at ``apiserver``."""
    return apiserver.write_kubeconfig(tmp_path / "kubeconfig")


def new_api_client(kubeconfig_path: Path) -> kubernetes.client.ApiClient:
    """An official-client ``ApiClient`` configured from a kubeconfig file."""
    return kubernetes.config.new_client_from_config(config_file=str(kubeconfig_path))


@pytest.fixture
def api_client(kubeconfig: Path) -> Iterator[kubernetes.client.ApiClient]:
    """An ``ApiClient`` for ``apiserver``, as the controller would build one."""
    client = new_api_client(kubeconfig)
    try:
        yield client
    finally:
        client.close()
