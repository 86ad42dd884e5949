"""A rollout the controller keeps failing on, end to end: its VirtualService deleted while
v2 rolls out, then ``rollout abort``: every tick must move the weight and cannot.

Outputs: the Rollout's status (``Reconciled=False`` and ``Ready=False`` with the reason and
message, ``observedGeneration``), exactly one ``ReconcileFailed`` warning Event however many
ticks fail, ``rollout status`` naming the failure, and the phase metric counting the rollout
under ``ReconcileFailed``; then, with the VirtualService back, the standard conditions again.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import kubernetes
import pytest

from rollout.controller import Controller
from tests.e2e.world import (
    NAMESPACE,
    SpecRepo,
    TrafficSimulator,
    read_rollout,
    read_virtual_service,
    rollout_status,
    wait_for,
)
from tests.kube_clients import as_body, custom_objects

pytestmark = pytest.mark.slow

ISTIO = ("networking.istio.io", "v1", NAMESPACE, "virtualservices")


def rollout_cli(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rollout", *args, "--kubeconfig", str(kubeconfig)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def conditions(app: kubernetes.client.ApiClient) -> dict[str, dict[str, object]]:
    return {c["type"]: c for c in rollout_status(app).get("conditions", [])}


def failure_events(app: kubernetes.client.ApiClient) -> list[kubernetes.client.CoreV1Event]:
    events = kubernetes.client.CoreV1Api(app).list_namespaced_event(NAMESPACE).items
    return [event for event in events if event.reason == "ReconcileFailed"]


def test_a_failing_rollout_says_why_in_its_status_one_event_the_cli_and_the_metric(
    polling_controller: Controller,
    app: kubernetes.client.ApiClient,
    spec_repo: SpecRepo,
    traffic: TrafficSimulator,
    kubeconfig: Path,
) -> None:
    wait_for(
        lambda: rollout_status(app).get("stableVersion") == "v1", timeout=30, what="v1 adopted"
    )
    ready = conditions(app)["Ready"]
    assert ready["status"] == "True" and ready["reason"] == "Succeeded"
    assert conditions(app)["Progressing"]["status"] == "False"
    generation = read_rollout(app)["metadata"]["generation"]
    assert rollout_status(app)["observedGeneration"] == generation
    assert ready["observedGeneration"] == generation

    spec_repo.push("v2", hold="4s")
    wait_for(lambda: rollout_status(app).get("canaryWeight") == 20, timeout=30, what="v2 at 20%")
    assert conditions(app)["Progressing"]["status"] == "True"
    custom = custom_objects(app)
    saved = read_virtual_service(app)
    custom.delete_namespaced_custom_object(*ISTIO, "checkout")
    aborted = rollout_cli(kubeconfig, "abort", "checkout", "-n", NAMESPACE)
    assert aborted.returncode == 0, aborted.stderr

    wait_for(
        lambda: conditions(app).get("Reconciled", {}).get("status") == "False",
        timeout=30,
        what="the failure recorded on the Rollout",
    )
    failed = conditions(app)["Reconciled"]
    assert failed["reason"] == "TrafficConfigError"
    assert failed["message"] == "VirtualService shop/checkout not found"
    assert conditions(app)["Ready"]["status"] == "False"
    time.sleep(3)  # several more failing ticks
    (event,) = failure_events(app)
    assert event.type == "Warning"
    assert event.message == "TrafficConfigError: VirtualService shop/checkout not found"

    shown = rollout_cli(kubeconfig, "status", "checkout", "-n", NAMESPACE)
    assert shown.returncode == 0, shown.stderr
    assert "ReconcileFailed" in shown.stdout
    assert "TrafficConfigError: VirtualService shop/checkout not found" in shown.stdout

    wait_for(
        lambda: (
            polling_controller.metrics.registry.get_sample_value(
                "rollout_rollouts", {"phase": "ReconcileFailed"}
            )
            == 1
        ),
        timeout=30,
        what="the phase metric counting the failing rollout",
    )

    restored = {key: saved[key] for key in ("apiVersion", "kind", "spec")}
    restored["metadata"] = {"name": "checkout", "namespace": NAMESPACE}
    custom.create_namespaced_custom_object(*ISTIO, as_body(restored))
    wait_for(
        lambda: conditions(app).get("Reconciled", {}).get("status") == "True",
        timeout=30,
        what="ticks going through again",
    )
    assert len(failure_events(app)) == 1
    wait_for(
        lambda: rollout_status(app).get("phase") == "RolledBack",
        timeout=30,
        what="the abort carried out",
    )
