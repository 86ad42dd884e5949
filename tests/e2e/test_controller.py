"""A pushed healthy version is promoted; a pushed bad one is rolled back and alerted.

The controller runs in-process exactly as ``rollout run`` builds it: it clones the spec
repository, mirrors specs into Rollout resources on the local API server, shifts the
VirtualService, judges the canary with the real Prometheus (scraping counts of simulated
traffic routed by the live weights), and posts Slack alerts to a real receiver. A push
webhook signed like GitHub's triggers each sync.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import kubernetes
import pytest

from rollout.controller import Controller
from rollout_local.receiver import WebhookReceiver
from tests.e2e.world import (
    SpecRepo,
    TrafficSimulator,
    VersionBehaviour,
    phase_of,
    push_hook,
    read_rollout,
    read_virtual_service,
    route_weights,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.cluster]


def test_healthy_version_is_promoted_and_bad_one_rolled_back(
    controller: Controller,
    app: kubernetes.client.ApiClient,
    traffic: TrafficSimulator,
    spec_repo: SpecRepo,
    receiver: WebhookReceiver,
    kubeconfig: Path,
) -> None:
    wait_for(lambda: phase_of(app)[:2] == ("Succeeded", "v1"), timeout=30, what="v1 adopted")
    assert route_weights(read_virtual_service(app)) == {"v1": 100}

    commit = spec_repo.push("v2")
    assert push_hook(controller, commit) in (200, 202)
    seen_weights: set[int] = set()

    def promoted() -> bool:
        weights = route_weights(read_virtual_service(app))
        seen_weights.add(weights.get("v2", 0))
        return phase_of(app)[:2] == ("Succeeded", "v2")

    wait_for(promoted, timeout=90, what="v2 promoted")
    assert route_weights(read_virtual_service(app)) == {"v2": 100}
    assert {20, 50} <= seen_weights  # it walked the steps

    def promotion_alert() -> bool:  # alerts leave after the state is saved, so wait for it
        return any("promoted" in json.dumps(alert.json) for alert in receiver.received)

    wait_for(promotion_alert, timeout=15, what="the Slack promotion alert")

    traffic.behaviour["v3"] = VersionBehaviour(error_rate=0.05)
    commit = spec_repo.push("v3")
    assert push_hook(controller, commit) in (200, 202)
    wait_for(lambda: phase_of(app)[0] == "RolledBack", timeout=90, what="v3 rolled back")
    assert route_weights(read_virtual_service(app)) == {"v2": 100}
    status = read_rollout(app)["status"]
    assert status["failed"]["version"] == "v3"
    assert status["lastVerdict"]["outcome"] == "fail"

    def rollback_alert() -> dict | None:  # type: ignore[type-arg]
        for alert in receiver.received:
            text = json.dumps(alert.json)
            if "v3" in text and ("rolled back" in text.lower() or "rolledBack" in text):
                return alert.json  # type: ignore[no-any-return]
        return None

    alert = wait_for(rollback_alert, timeout=15, what="the Slack rollback alert")
    text = json.dumps(alert)
    assert "istio-error-ratio" in text
    assert "attachments" in alert and alert["attachments"][0]["color"] == "danger"
    fields = {f["title"]: f["value"] for f in alert["attachments"][0]["fields"]}
    failed_check = " ".join(f"{t}: {v}" for t, v in fields.items() if "istio-error-ratio" in t + v)
    assert "against threshold 0.01" in failed_check  # the value against its threshold
    assert "n=" in failed_check and "p=" in failed_check  # with sample size and p-value
    assert traffic.invalid_weights == []

    shown = subprocess.run(
        [
            sys.executable,
            "-m",
            "rollout",
            "status",
            "checkout",
            "-n",
            "shop",
            "--kubeconfig",
            str(kubeconfig),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert "RolledBack" in shown.stdout
    assert "istio-error-ratio" in shown.stdout
    assert "failed: v3" in shown.stdout


def test_a_bad_signature_is_refused_and_syncs_nothing(
    controller: Controller, app: kubernetes.client.ApiClient, spec_repo: SpecRepo
) -> None:
    wait_for(lambda: phase_of(app)[1] == "v1", timeout=30, what="v1 adopted")
    spec_repo.push("v2")
    request = urllib.request.Request(
        f"{controller.server.url}/hooks/git",
        data=b'{"ref": "refs/heads/main"}',
        headers={"X-Hub-Signature-256": "sha256=" + "0" * 64, "X-GitHub-Event": "push"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 401
    rollout = read_rollout(app)
    assert rollout["spec"]["version"] == "v1"
