"""Bad input mid-rollout, end to end: an invalid spec pushed, Prometheus gone.

- An invalid spec pushed while v2 rolls out keeps the rollout on its last valid spec (v2
  still promotes), marks the Rollout ``SpecValid=False`` and alerts exactly once.
- Prometheus stopped mid-rollout: every verdict is inconclusive, the weight holds, and the
  canary is never promoted.
"""

from __future__ import annotations

import json
import time

import kubernetes
import pytest

from rollout.controller import Controller
from rollout_local.processes.prometheus_server import PrometheusServer
from rollout_local.receiver import WebhookReceiver
from tests.e2e.world import (
    SpecRepo,
    TrafficSimulator,
    git,
    read_rollout,
    read_virtual_service,
    rollout_status,
    route_weights,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.cluster]


def push_invalid(repo: SpecRepo) -> None:
    path = repo.work / "rollouts" / "checkout.yaml"
    path.write_text(path.read_text().replace("version: v2", "version: v3\n  canaryWeight: 5"))
    git(repo.work, "commit", "-qam", "checkout: a typo")
    git(repo.work, "push", "-q", "origin", "main")


def test_an_invalid_spec_mid_rollout_keeps_the_last_valid_one_and_alerts_once(
    polling_controller: Controller,
    app: kubernetes.client.ApiClient,
    spec_repo: SpecRepo,
    traffic: TrafficSimulator,
    receiver: WebhookReceiver,
) -> None:
    wait_for(
        lambda: rollout_status(app).get("stableVersion") == "v1", timeout=30, what="v1 adopted"
    )
    spec_repo.push("v2", hold="4s")
    wait_for(lambda: rollout_status(app).get("canaryWeight") == 20, timeout=30, what="v2 at 20%")
    push_invalid(spec_repo)
    wait_for(
        lambda: rollout_status(app).get("stableVersion") == "v2", timeout=90, what="v2 promoted"
    )
    assert read_rollout(app)["spec"]["version"] == "v2"  # the invalid spec never reached it
    conditions = {c["type"]: c for c in rollout_status(app).get("conditions", [])}
    assert conditions["SpecValid"]["status"] == "False"
    assert "canaryWeight" in conditions["SpecValid"]["message"]
    time.sleep(3)  # more syncs of the same invalid commit
    invalid_alerts = [
        alert for alert in receiver.received if "invalid new spec" in json.dumps(alert.json)
    ]
    assert len(invalid_alerts) == 1


def test_prometheus_gone_mid_rollout_holds_and_never_promotes(
    polling_controller: Controller,
    app: kubernetes.client.ApiClient,
    spec_repo: SpecRepo,
    traffic: TrafficSimulator,
    prometheus: PrometheusServer,
) -> None:
    wait_for(
        lambda: rollout_status(app).get("stableVersion") == "v1", timeout=30, what="v1 adopted"
    )
    spec_repo.push("v2", hold="2s")
    wait_for(lambda: rollout_status(app).get("canaryWeight") == 20, timeout=30, what="v2 at 20%")
    prometheus.stop()
    wait_for(
        lambda: (rollout_status(app).get("lastVerdict") or {}).get("outcome") == "inconclusive",
        timeout=30,
        what="an inconclusive verdict",
    )
    for _ in range(8):
        time.sleep(1)
        current = rollout_status(app)
        assert current.get("stableVersion") == "v1"
        assert current.get("phase") in ("Progressing", "Promoting")
        assert route_weights(read_virtual_service(app)).get("v2") == current["canaryWeight"]
    assert rollout_status(app)["canaryWeight"] == 20
    assert rollout_status(app)["inconclusiveStreak"] >= 5
