"""The RBAC in ``manifests/`` is exactly what the controller uses: no less, no more.

Inputs: the controller, run in-process as ``rollout run`` builds it (leader election on,
its Lease in ``rollout-system``), against the local API server with the built manifests
applied, through a whole life: a version adopted, one promoted, a bad one rolled back with
a Slack alert whose URL is read from a Secret, a person's retry (the same Event recorded
twice, so counted), the spec removed from Git (the mirror deleted), and a graceful stop
(the Lease released). Outputs under test: every request the server logged with the
controller's User-Agent, reduced to what the authorizer sees, is allowed by a rule bound to
the controller's ServiceAccount; and every verb/resource each rule grants was used.
"""

from __future__ import annotations

import collections
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml

from kubelite import LocalApiServer
from rollout.controller import Controller, ControllerSettings
from rollout.kube.store import KubeStateStore
from rollout.metrics.prometheus import PrometheusSettings
from rollout_local.processes.prometheus_server import PrometheusServer
from rollout_local.receiver import WebhookReceiver
from tests.e2e.world import (
    NAMESPACE,
    SPEC,
    SpecRepo,
    TrafficSimulator,
    VersionBehaviour,
    git,
    read_rollout,
    rollout_status,
    wait_for,
)
from tests.kube_clients import Kubectl
from tests.manifests import rbac

pytestmark = pytest.mark.slow
log = logging.getLogger(__name__)

ACCOUNT = ("rollout-system", "rollout-controller")
CONTROLLER_AGENT = "rollout-controller/"


def push_spec(repo: SpecRepo, version: str | None) -> None:
    """Commit and push the checkout spec at ``version``, or its removal (``None``)."""
    path = repo.work / "rollouts" / "checkout.yaml"
    path.parent.mkdir(exist_ok=True)
    if version is None:
        path.unlink()
        message = "checkout: stop managing the rollout"
    else:
        path.write_text(SPEC.format(version=version, hold="3s", interval="1s"))
        message = f"checkout: roll out {version}"
    git(repo.work, "add", "-A", ".")
    git(repo.work, "commit", "-qm", message)
    git(repo.work, "push", "-q", "origin", "main")


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
) -> list[dict[str, Any]]:
    """The built manifests applied with kubectl (``app`` made the Secret the alerts read)."""
    kubectl("apply", "-f", "-", stdin=built_yaml)
    return [doc for doc in yaml.safe_load_all(built_yaml) if doc]


@pytest.fixture
def controller(
    installed: list[dict[str, Any]],
    kubeconfig: Path,
    prometheus: PrometheusServer,
    spec_repo: SpecRepo,
    tmp_path: Path,
) -> Iterator[Controller]:
    push_spec(spec_repo, "v1")
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
    push_spec(repo, "v2")
    wait_for(
        lambda: (
            (rollout_status(api).get("phase"), rollout_status(api).get("stableVersion"))
            == ("Succeeded", "v2")
        ),
        timeout=90,
        what="v2 promoted",
    )
    traffic.behaviour["v3"] = VersionBehaviour(error_rate=0.08)
    push_spec(repo, "v3")
    wait_for(
        lambda: rollout_status(api).get("phase") == "RolledBack", timeout=90, what="v3 rolled back"
    )
    wait_for(
        lambda: any("v3" in json.dumps(alert.json) for alert in receiver.received),
        timeout=20,
        what="the Slack alert about v3",
    )
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
    push_spec(repo, None)
    wait_for(lambda: rollout_gone(api), timeout=30, what="the mirrored Rollout deleted")
    controller.stop()  # a graceful stop releases the Lease


def controller_calls(apiserver: LocalApiServer) -> dict[rbac.Call, int]:
    calls: collections.Counter[rbac.Call] = collections.Counter()
    for record in apiserver.requests:
        if record.user_agent.startswith(CONTROLLER_AGENT):
            calls[rbac.call_of(record)] += 1
    return dict(calls)


def test_rbac_allows_every_call_and_grants_nothing_unused(
    controller: Controller,
    app: kubernetes.client.ApiClient,
    apiserver: LocalApiServer,
    spec_repo: SpecRepo,
    traffic: TrafficSimulator,
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
