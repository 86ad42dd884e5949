"""``rollout run --dashboard``: people sign in with a Kubernetes token and RBAC decides.

Inputs: the real kube-apiserver (RBAC on, service-account tokens signed), the Rollouts
``shop/checkout`` and ``ops/api``, three service accounts in ``shop`` with tokens minted by
the TokenRequest API (one bound to nothing, one to a Role with ``get`` on rollouts, one to
a Role with ``get`` and ``patch``), and the controller's HTTP server with the dashboard as
``rollout run --dashboard`` wires it. Outputs: the status of the list, the rollout page and
a promote for each token; who the recorded command names; what a bad token gets. The
stand-in API server serves neither TokenReview nor SubjectAccessReview, so this runs
against the real server only.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import kubernetes
import pytest

from rollout.controller import DASHBOARD_PATH, Controller, ControllerSettings
from rollout.kube.store import KubeStateStore
from rollout.metrics.prometheus import PrometheusSettings
from rollout_local.processes.kube_control_plane import KubeControlPlane
from tests.kube_clients import as_body
from tests.kube_servers import ApiServer

pytestmark = [pytest.mark.cluster]

NAMESPACE = "shop"


def grant(api: kubernetes.client.ApiClient, account: str, verbs: list[str]) -> None:
    """A service account in ``shop``, bound (when ``verbs``) to a Role on rollouts."""
    core = kubernetes.client.CoreV1Api(api)
    rbac = kubernetes.client.RbacAuthorizationV1Api(api)
    core.create_namespaced_service_account(NAMESPACE, as_body({"metadata": {"name": account}}))
    if not verbs:
        return
    rule = {"apiGroups": ["canary.rollout.dev"], "resources": ["rollouts"], "verbs": verbs}
    rbac.create_namespaced_role(
        NAMESPACE, as_body({"metadata": {"name": account}, "rules": [rule]})
    )
    binding = {
        "metadata": {"name": account},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": account},
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}],
    }
    rbac.create_namespaced_role_binding(NAMESPACE, as_body(binding))


def token_for(api: kubernetes.client.ApiClient, account: str) -> str:
    minted = kubernetes.client.CoreV1Api(api).create_namespaced_service_account_token(
        account, NAMESPACE, as_body({"spec": {"expirationSeconds": 3600}})
    )
    assert minted.status is not None
    return str(minted.status.token)


@pytest.fixture
def dashboard_url(
    apiserver: ApiServer, kubeconfig: Path, rollouts: KubeStateStore
) -> Iterator[str]:
    if not isinstance(apiserver, KubeControlPlane):
        pytest.skip("the stand-in API server serves no TokenReview or SubjectAccessReview")
    settings = ControllerSettings(
        prometheus=PrometheusSettings(url="http://127.0.0.1:9"),
        source="cluster",
        kubeconfig=str(kubeconfig),
        listen_host="127.0.0.1",
        listen_port=0,
        leader_election=False,
        dashboard=True,
    )
    controller = Controller(settings)
    controller.server.start()  # the HTTP side only: no rollout is acted on here
    try:
        yield controller.server.url + DASHBOARD_PATH
    finally:
        controller.stop()


@contextlib.contextmanager
def signed_in(url: str, token: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=30) as client:
        answer = client.post("/sign-in", data={"token": token})
        assert answer.status_code == 303, answer.text
        yield client


def promote(client: httpx.Client) -> int:
    page = client.get("/")  # the header's sign-out form carries the session's CSRF token
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf, page.text
    answer = client.post(
        "/rollouts/shop/checkout/actions", data={"action": "promote", "csrf": csrf.group(1)}
    )
    return answer.status_code


def test_rbac_on_rollouts_decides_what_each_token_sees_and_does(
    dashboard_url: str, api_client: kubernetes.client.ApiClient, rollouts: KubeStateStore
) -> None:
    grant(api_client, "nobody", [])
    grant(api_client, "reader", ["get", "list", "watch"])
    grant(api_client, "operator", ["get", "list", "watch", "patch"])

    with httpx.Client(base_url=dashboard_url, timeout=30) as anonymous:
        assert anonymous.get("/").status_code == 401
        assert anonymous.post("/sign-in", data={"token": "not-a-token"}).status_code == 401

    with signed_in(dashboard_url, token_for(api_client, "nobody")) as client:
        assert client.get("/").status_code == 403
        assert client.get("/rollouts/shop/checkout").status_code == 403
        assert client.get("/rollouts/shop/checkout/stream").status_code == 403

    with signed_in(dashboard_url, token_for(api_client, "reader")) as client:
        listed = client.get("/")
        assert listed.status_code == 200
        assert "shop/checkout" in listed.text and "ops/api" not in listed.text
        page = client.get("/rollouts/shop/checkout")
        assert page.status_code == 200 and "not act on it" in page.text
        assert client.get("/rollouts/ops/api").status_code == 403
        assert promote(client) == 403
    assert rollouts.load("shop", "checkout").command is None

    with signed_in(dashboard_url, token_for(api_client, "operator")) as client:
        assert promote(client) == 303
    command = rollouts.load("shop", "checkout").command
    assert command is not None and command.action == "promote"
    assert command.by == f"system:serviceaccount:{NAMESPACE}:operator (dashboard)"
