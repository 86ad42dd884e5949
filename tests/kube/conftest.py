"""Fixtures for the Kubernetes adapter tests: the Rollout CRD created on the test's local
API server, and a kubeconfig that reaches it through a relay whose link can be cut (the
server, its clients and ``kubectl`` come from ``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes
import pytest
import yaml

from tests.kube.crd_file import crd_document
from tests.kube.tcp_relay import TcpRelay
from tests.kube_servers import ApiServer, install_crd


@pytest.fixture
def rollout_crd(api_client: kubernetes.client.ApiClient) -> dict[str, Any]:
    """The project's Rollout CRD, created through the API and served."""
    return install_crd(api_client, crd_document())


@pytest.fixture
def relayed_kubeconfig(apiserver: ApiServer, tmp_path: Path) -> Iterator[tuple[Path, TcpRelay]]:
    """A kubeconfig that reaches ``apiserver`` through a :class:`TcpRelay`."""
    host, port = urlsplit(apiserver.url).hostname, urlsplit(apiserver.url).port
    assert host is not None and port is not None
    relay = TcpRelay((host, port))
    path = apiserver.write_kubeconfig(tmp_path / "relayed")
    document = yaml.safe_load(path.read_text())
    scheme = urlsplit(apiserver.url).scheme
    document["clusters"][0]["cluster"]["server"] = f"{scheme}://127.0.0.1:{relay.port}"
    path.write_text(yaml.safe_dump(document))
    yield path, relay
    relay.cut()
