"""The RBAC in ``manifests/`` is exactly what the controller uses: no less, no more.

Inputs: the controller, run in-process as ``rollout run`` builds it (leader election on,
its Lease in ``rollout-system``), against the local API server with the built manifests
applied, through a whole life of a rollout with managed versions (each made from a template
Deployment and scaled through the ``scale`` subresource; ``ReadyDeployments`` stands in for
the Deployment controller; an HPA whose target follows the stable): a version adopted, one
made and promoted (the old stable scaled to zero), a bad one made, rolled back (scaled to
zero) with a Slack alert whose URL is read from a Secret; beside it a second rollout routed
by a Gateway API HTTPRoute and its two Services (``tests/manifests/gateway_rollout.py``),
adopted and promoted; a person's retry (the same Event
recorded twice, so counted), the spec removed from Git (the mirror deleted), and a graceful
stop (the Lease released). Outputs under test: every request the server logged with the
controller's User-Agent, reduced to what the authorizer sees, is allowed by a rule bound to
the controller's ServiceAccount; and every verb/resource each rule grants was used.
"""

from __future__ import annotations

import collections
import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml

from rollout.controller import Controller, ControllerSettings
from rollout.errors import Conflict
from rollout.kube.store import KubeStateStore
from rollout.metrics.prometheus import PrometheusSettings
from rollout_local.processes.kube_control_plane import KubeControlPlane
from rollout_local.processes.prometheus_server import PrometheusServer
from rollout_local.receiver import WebhookReceiver
from tests.e2e.autoscalers import AUTOSCALER, autoscaler
from tests.e2e.deployments import TEMPLATE, ReadyDeployments, push_managed
from tests.e2e.world import (
    NAMESPACE,
    SpecRepo,
    TrafficSimulator,
    VersionBehaviour,
    read_rollout,
    rollout_status,
    wait_for,
)
from tests.kube_clients import Kubectl, as_body
from tests.kube_servers import ApiServer
from tests.manifests import gateway_rollout, rbac
from tests.metrics.exporter import IstioExporter

pytestmark = [pytest.mark.slow, pytest.mark.cluster]
log = logging.getLogger(__name__)

ACCOUNT = ("rollout-system", "rollout-controller")
CONTROLLER_AGENT = "rollout-controller/"


def rollout_gone(api: kubernetes.client.ApiClient) -> bool:
    try:
        read_rollout(api)
    except kubernetes.client.ApiException as error:
        return bool(error.status == 404)
    return False


@pytest.fixture
def installed(
    app: kubernetes.client.ApiClient,
    kubectl: Kubectl,
    built_yaml: str,
    receiver: WebhookReceiver,
) -> Iterator[list[dict[str, Any]]]:
    """The built manifests applied with kubectl (``app`` made the Secret the alerts read);
    v2 and v3 left for the controller to make from the template, and made ready."""
    kubectl("apply", "-f", "-", stdin=built_yaml)
    apps = kubernetes.client.AppsV1Api(app)
    for version in ("v2", "v3"):
        apps.delete_namespaced_deployment(f"checkout-{version}", NAMESPACE)
    apps.create_namespaced_deployment(NAMESPACE, as_body(TEMPLATE))
    kubernetes.client.AutoscalingV2Api(app).create_namespaced_horizontal_pod_autoscaler(
        NAMESPACE, as_body(autoscaler("checkout-v1"))
    )
    gateway_rollout.install(app, ["v1", "v2"])
    with ReadyDeployments(app, NAMESPACE):
        yield [doc for doc in yaml.safe_load_all(built_yaml) if doc]


@pytest.fixture
def gateway_traffic(
    installed: list[dict[str, Any]], app: kubernetes.client.ApiClient, exporter: IstioExporter
) -> Iterator[gateway_rollout.GatewayTraffic]:
    """The storefront's requests, routed by its HTTPRoute and Services as they are."""
    traffic = gateway_rollout.GatewayTraffic(app, exporter).start()
    yield traffic
    traffic.stop()


def running_controller(
    kubeconfig: Path, prometheus: PrometheusServer, spec_repo: SpecRepo, tmp_path: Path
) -> Iterator[Controller]:
    """The controller as ``rollout run`` builds it (leader election on), with v1 of both
    rollouts in Git."""
    push_managed(spec_repo, "v1", autoscaler=AUTOSCALER)
    gateway_rollout.push_storefront(spec_repo, "v1")
    settings = ControllerSettings(
        prometheus=PrometheusSettings(url=prometheus.url),
        git_url=spec_repo.url,
        cache_dir=tmp_path / "cache",
        poll_interval=1.0,
        kubeconfig=str(kubeconfig),
        listen_host="127.0.0.1",
        listen_port=0,
        leader_election=True,
        lease_namespace="rollout-system",
        lease_name="rollout-controller",
        identity="rollout-controller-7d9f-abcde",
    )
    running = Controller(settings)
    running.start()
    yield running
    running.stop()


@pytest.fixture
def controller(
    installed: list[dict[str, Any]],
    kubeconfig: Path,
    prometheus: PrometheusServer,
    spec_repo: SpecRepo,
    tmp_path: Path,
) -> Iterator[Controller]:
    yield from running_controller(kubeconfig, prometheus, spec_repo, tmp_path)


def live_the_whole_cycle(
    controller: Controller,
    api: kubernetes.client.ApiClient,
    repo: SpecRepo,
    traffic: TrafficSimulator,
    receiver: WebhookReceiver,
) -> None:
    wait_for(lambda: controller.is_leader, timeout=30, what="the controller leading")
    wait_for(
        lambda: rollout_status(api).get("stableVersion") == "v1", timeout=30, what="v1 adopted"
    )
    wait_for(
        lambda: gateway_rollout.storefront_status(api)[1] == "v1",
        timeout=30,
        what="v1 of the storefront (HTTPRoute) adopted",
    )
    push_managed(repo, "v2", autoscaler=AUTOSCALER)
    gateway_rollout.push_storefront(repo, "v2")
    wait_for(
        lambda: (
            (rollout_status(api).get("phase"), rollout_status(api).get("stableVersion"))
            == ("Succeeded", "v2")
        ),
        timeout=90,
        what="v2 promoted",
    )
    wait_for(
        lambda: gateway_rollout.storefront_status(api) == ("Succeeded", "v2"),
        timeout=90,
        what="v2 of the storefront (HTTPRoute) promoted",
    )
    traffic.behaviour["v3"] = VersionBehaviour(error_rate=0.08)
    push_managed(repo, "v3", autoscaler=AUTOSCALER)
    wait_for(
        lambda: rollout_status(api).get("phase") == "RolledBack", timeout=90, what="v3 rolled back"
    )
    wait_for(
        lambda: any("v3" in json.dumps(alert.json) for alert in receiver.received),
        timeout=20,
        what="the Slack alert about v3",
    )
    # The controller reads a Rollout from the server only past its watch cache: before the
    # cache has synced, and after a status write that lost a race (the 409 sends it back
    # for the server's copy). Both, through the controller's own client, as they happen.
    cold = KubeStateStore(controller.api)
    stored = cold.load(NAMESPACE, "checkout")
    with pytest.raises(Conflict):
        cold.save_state(NAMESPACE, "checkout", stored.state, resource_version="1")
    # a person's `rollout retry` (through the test's own client, not the controller's)
    KubeStateStore(api).request_command(NAMESPACE, "checkout", "retry", "alice")
    wait_for(
        lambda: (
            rollout_status(api).get("phase") == "RolledBack"
            and any(
                c.get("result", "").startswith("retrying") for c in rollout_status(api)["commands"]
            )
        ),
        timeout=90,
        what="v3 retried and rolled back again",
    )
    push_managed(repo, None)
    wait_for(lambda: rollout_gone(api), timeout=30, what="the mirrored Rollout deleted")
    controller.stop()  # a graceful stop releases the Lease


def controller_requests(apiserver: ApiServer) -> list[Any]:
    """The controller's requests on resources. Requests for non-resource URLs (``/version``,
    discovery) are left out: every authenticated user may make them (the default
    ``system:discovery`` and ``system:public-info-viewer`` roles), so no rule of ours is
    involved."""
    return [
        record
        for record in apiserver.requests
        if record.user_agent.startswith(CONTROLLER_AGENT) and record.resource
    ]


def controller_calls(apiserver: ApiServer) -> dict[rbac.Call, int]:
    calls: collections.Counter[rbac.Call] = collections.Counter()
    for record in controller_requests(apiserver):
        calls[rbac.call_of(record)] += 1
    return dict(calls)


def test_rbac_allows_every_call_and_grants_nothing_unused(
    controller: Controller,
    app: kubernetes.client.ApiClient,
    apiserver: ApiServer,
    spec_repo: SpecRepo,
    traffic: TrafficSimulator,
    gateway_traffic: gateway_rollout.GatewayTraffic,
    receiver: WebhookReceiver,
    installed: list[dict[str, Any]],
) -> None:
    live_the_whole_cycle(controller, app, spec_repo, traffic, receiver)
    calls = controller_calls(apiserver)
    grants = rbac.grants_for(installed, account=ACCOUNT[1], namespace=ACCOUNT[0])
    for call, count in sorted(calls.items()):
        allowed = [g.describe() for g in rbac.matching_grants(grants, call)]
        log.info("%5d x %s <- %s", count, call.describe(), allowed)

    denied = [call.describe() for call in calls if not rbac.matching_grants(grants, call)]
    assert denied == [], "the controller made calls its RBAC does not allow"

    used: set[tuple[str, str, str]] = set()
    used_names: dict[tuple[int, str], set[str]] = collections.defaultdict(set)
    for call in calls:
        for grant in rbac.matching_grants(grants, call):
            used.add((grant.role, call.resource, call.verb))
            used_names[(grant.index, grant.role)].add(call.name)
    unused = [
        f"{grant.describe()}: {verb} {resource}"
        for grant in grants
        for _, resource, verb in grant.verb_resource_pairs()
        if (grant.role, resource, verb) not in used
    ]
    assert unused == [], "the manifests grant more than the controller uses"
    for grant in grants:
        if grant.resource_names:
            assert used_names[(grant.index, grant.role)] == set(grant.resource_names)


# -- the real authorizer ------------------------------------------------------------------

SERVICE_ACCOUNT_USER = f"system:serviceaccount:{ACCOUNT[0]}:{ACCOUNT[1]}"
SERVICE_ACCOUNT_GROUPS = [
    "system:serviceaccounts",
    f"system:serviceaccounts:{ACCOUNT[0]}",
    "system:authenticated",
]


def service_account_kubeconfig(
    server: KubeControlPlane, api: kubernetes.client.ApiClient, path: Path
) -> Path:
    """A kubeconfig holding a token the TokenRequest API minted for the controller's account."""
    request = {"spec": {"expirationSeconds": 3600}}
    minted = kubernetes.client.CoreV1Api(api).create_namespaced_service_account_token(
        ACCOUNT[1], ACCOUNT[0], as_body(request)
    )
    assert minted.status is not None
    return server.write_kubeconfig(path, namespace=ACCOUNT[0], token=minted.status.token)


def allowed_for_controller(api: kubernetes.client.ApiClient, call: rbac.Call) -> bool:
    """The real RBAC authorizer's answer (a SubjectAccessReview) for the controller's account."""
    resource, _, subresource = call.resource.partition("/")
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": SERVICE_ACCOUNT_USER,
            "groups": SERVICE_ACCOUNT_GROUPS,
            "resourceAttributes": {
                "group": call.group,
                "resource": resource,
                "subresource": subresource,
                "verb": call.verb,
                "namespace": call.namespace,
                "name": call.name,
            },
        },
    }
    answer = kubernetes.client.AuthorizationV1Api(api).create_subject_access_review(as_body(review))
    return answer.status is not None and bool(answer.status.allowed)


def set_rules(
    api: kubernetes.client.ApiClient,
    grant: rbac.Grant,
    change: Callable[[list[Any]], list[Any]],
) -> list[Any]:
    """Change the rules of the role ``grant`` belongs to; returns the rules it had."""
    rbac_api = kubernetes.client.RbacAuthorizationV1Api(api)
    kind, name = grant.role.split(" ", 1)
    if kind == "ClusterRole":
        role: dict[str, Any] = api.sanitize_for_serialization(rbac_api.read_cluster_role(name))
    else:
        role = api.sanitize_for_serialization(rbac_api.read_namespaced_role(name, grant.namespace))
    previous = list(role.get("rules") or [])
    role["rules"] = change(previous)
    if kind == "ClusterRole":
        rbac_api.replace_cluster_role(name, as_body(role))
    else:
        rbac_api.replace_namespaced_role(name, grant.namespace, as_body(role))
    return previous


def denied_once_rule_is_removed(
    api: kubernetes.client.ApiClient, grant: rbac.Grant, calls: list[rbac.Call]
) -> list[str]:
    """Remove one rule from its role on the server, ask the authorizer about every call the
    cycle made, restore the rule; returns the calls it denied (the authorizer's cache may
    take a moment to see the change, so it asks until one is denied or 10 s pass)."""
    original = set_rules(
        api, grant, lambda rules: [r for i, r in enumerate(rules) if i != grant.index]
    )
    try:
        denied: list[str] = []
        deadline = time.monotonic() + 10
        while not denied and time.monotonic() < deadline:
            denied = [c.describe() for c in calls if not allowed_for_controller(api, c)]
            time.sleep(0.2)
        return denied
    finally:
        set_rules(api, grant, lambda _: original)
        wait_for(
            lambda: all(allowed_for_controller(api, c) for c in calls),
            timeout=10,
            what=f"{grant.describe()} restored",
        )


@pytest.fixture
def controller_as_service_account(
    apiserver: ApiServer,
    app: kubernetes.client.ApiClient,
    installed: list[dict[str, Any]],
    prometheus: PrometheusServer,
    spec_repo: SpecRepo,
    tmp_path: Path,
) -> Iterator[Controller]:
    """The controller authenticated as its ServiceAccount, with only the shipped RBAC."""
    if not isinstance(apiserver, KubeControlPlane):
        pytest.skip("the stand-in has no authorizer: this runs against the real server")
    kubeconfig = service_account_kubeconfig(apiserver, app, tmp_path / "controller.kubeconfig")
    yield from running_controller(kubeconfig, prometheus, spec_repo, tmp_path)


def test_the_real_authorizer_allows_the_cycle_and_needs_every_rule(
    controller_as_service_account: Controller,
    app: kubernetes.client.ApiClient,
    apiserver: ApiServer,
    spec_repo: SpecRepo,
    traffic: TrafficSimulator,
    gateway_traffic: gateway_rollout.GatewayTraffic,
    receiver: WebhookReceiver,
    installed: list[dict[str, Any]],
    kubectl: Kubectl,
) -> None:
    live_the_whole_cycle(controller_as_service_account, app, spec_repo, traffic, receiver)
    ours = controller_requests(apiserver)
    refused = sorted({rbac.call_of(r).describe() for r in ours if r.code == 403})
    assert ours and refused == [], "the controller's own account was refused"
    can_i = kubectl(
        "auth", "can-i", "patch", "virtualservices.networking.istio.io", "-n", NAMESPACE,
        f"--as={SERVICE_ACCOUNT_USER}", check=False,
    )  # fmt: skip
    assert can_i.stdout.strip() == "yes"

    calls = sorted({rbac.call_of(r) for r in ours})
    grants = rbac.grants_for(installed, account=ACCOUNT[1], namespace=ACCOUNT[0])
    assert grants
    unneeded = []
    for grant in grants:
        denied = denied_once_rule_is_removed(app, grant, calls)
        log.info("without %s the authorizer denies %s", grant.describe(), denied)
        if not denied:
            unneeded.append(grant.describe())
    assert unneeded == [], (
        "rules the cycle does not need (the authorizer denies nothing without them)"
    )
