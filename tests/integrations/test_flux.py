"""The Flux integration: Rollout health by CEL, the push relay and the managed-route policy.

Inputs: ``examples/flux/`` (sources, Kustomizations, notification Provider/Alert/Receiver),
Rollouts whose status the real state model writes in every phase, the real ``kubectl
kustomize``, and the controller's real HTTP server with a hook secret. Outputs under test:
the health Flux derives from our ``healthCheckExprs`` (evaluated as kustomize-controller
does); a Flux ``generic-hmac`` notification, signed as notification-controller signs it,
reaching ``/hooks/flux`` through the Service the Provider names and triggering a sync of
the branch and commit it carries; and the Flux patch marking exactly the VirtualServices,
HTTPRoutes (with their two Services) and HPAs the controller manages ``ssa: IfNotPresent``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from rollout.server.http import FLUX_HOOK_PATH, ControllerServer
from rollout.server.metrics import ControllerMetrics
from rollout.state import Condition, Phase, RolloutState, with_failed_reconcile
from tests.integrations.flux_health import evaluate_health
from tests.kube_clients import kustomize
from tests.manifests.layout import MANIFESTS

REPO_ROOT = Path(__file__).resolve().parents[2]
FLUX = REPO_ROOT / "examples" / "flux"
COMMIT = "4f7a1c0e9b8d7c6a5f4e3d2c1b0a9f8e7d6c5b4a"


def documents(name: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((FLUX / name).read_text()) if doc]


def find(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)


@pytest.fixture(scope="module")
def exprs() -> dict[str, str]:
    rollouts = find(documents("kustomizations.yaml"), "Kustomization", "shop-rollouts")
    assert rollouts["spec"]["wait"] is True
    (entry,) = rollouts["spec"]["healthCheckExprs"]
    crd = yaml.safe_load((MANIFESTS / "crd.yaml").read_text())
    assert entry["apiVersion"] == f"{crd['spec']['group']}/{crd['spec']['versions'][0]['name']}"
    assert entry["kind"] == crd["spec"]["names"]["kind"]
    return {k: v for k, v in entry.items() if k in ("inProgress", "failed", "current")}


def rollout(
    phase: Phase | None, *, spec_version: str = "v2", stable: str = "v2", **state: Any
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "canary.rollout.dev/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "checkout", "namespace": "shop", "generation": 3},
        "spec": {"version": spec_version},
    }
    if phase is not None:
        obj["status"] = RolloutState(phase=phase, stable_version=stable, **state).to_status()
    converted: dict[str, Any] = json.loads(json.dumps(obj))
    return converted


def as_object(state: RolloutState, *, spec_version: str = "v2") -> dict[str, Any]:
    """A Rollout asking for ``spec_version`` with ``state`` as its status, as JSON reads it."""
    obj = rollout(None, spec_version=spec_version)
    obj["status"] = json.loads(json.dumps(state.to_status()))
    return obj


@pytest.mark.parametrize(
    ("phase", "expected"),
    [
        (Phase.WAITING, "InProgress"),
        (Phase.PROGRESSING, "InProgress"),
        (Phase.PAUSED, "InProgress"),
        (Phase.PROMOTING, "InProgress"),
        (Phase.SUCCEEDED, "Current"),
        (Phase.ROLLED_BACK, "Failed"),
        (Phase.FAILED, "Failed"),
    ],
)
def test_each_phase_of_a_rollout_to_the_spec_version(
    exprs: dict[str, str], phase: Phase, expected: str
) -> None:
    stable = "v2" if phase is Phase.SUCCEEDED else "v1"
    obj = rollout(phase, stable=stable, canary_version="v2" if phase.active else None)
    assert evaluate_health(exprs, obj) == expected


def test_a_spec_the_controller_has_not_started_yet_is_in_progress(exprs: dict[str, str]) -> None:
    assert evaluate_health(exprs, rollout(Phase.SUCCEEDED, spec_version="v3")) == "InProgress"


def test_git_reverted_to_the_stable_version_after_a_rollback_is_current(
    exprs: dict[str, str],
) -> None:
    assert evaluate_health(exprs, rollout(Phase.ROLLED_BACK, spec_version="v2")) == "Current"


def test_an_invalid_newer_spec_fails(exprs: dict[str, str]) -> None:
    invalid = Condition(type="SpecValid", status="False", reason="InvalidSpec", message="bad")
    obj = rollout(Phase.SUCCEEDED, conditions=[invalid])
    assert evaluate_health(exprs, obj) == "Failed"


def test_a_rollout_the_controller_keeps_failing_on_fails_until_a_tick_goes_through(
    exprs: dict[str, str],
) -> None:
    under_way = RolloutState(phase=Phase.PROGRESSING, stable_version="v1", canary_version="v2")
    failing = with_failed_reconcile(
        under_way,
        reason="RouteNotFound",
        message="VirtualService shop/checkout not found",
        generation=3,
        now=1.0,
    )
    recovered = failing.with_condition("Reconciled", "True", "TickSucceeded", "", 2.0)
    assert evaluate_health(exprs, as_object(failing)) == "Failed"
    assert evaluate_health(exprs, as_object(recovered)) == "InProgress"


def test_a_lagging_observed_generation_is_in_progress(exprs: dict[str, str]) -> None:
    assert evaluate_health(exprs, rollout(Phase.SUCCEEDED, observed_generation=2)) == "InProgress"


def test_no_status_yet_is_not_ready(exprs: dict[str, str]) -> None:
    # `status` is not there to read: Flux keeps waiting (until the controller writes one)
    assert evaluate_health(exprs, rollout(None)) == "Error"


def test_a_flux_notification_triggers_a_sync() -> None:
    notifications = documents("notifications.yaml")
    provider = find(notifications, "Provider", "rollout-controller")
    assert provider["spec"]["type"] == "generic-hmac"
    address = urlsplit(provider["spec"]["address"])
    service_name, namespace, *_ = (address.hostname or "").split(".")
    built = [d for d in yaml.safe_load_all(kustomize(MANIFESTS)) if d]
    service = find(built, "Service", service_name)
    assert service["metadata"]["namespace"] == namespace
    assert address.port == service["spec"]["ports"][0]["port"]
    assert address.path == FLUX_HOOK_PATH
    secret = find(notifications, "Secret", provider["spec"]["secretRef"]["name"])
    token = secret["stringData"]["token"]
    alert = find(notifications, "Alert", "rollout-specs-changed")
    assert alert["spec"]["providerRef"]["name"] == "rollout-controller"

    pushes: list[tuple[str | None, str | None]] = []
    synced = threading.Event()

    def on_push(branch: str | None, commit: str | None) -> None:
        pushes.append((branch, commit))
        synced.set()

    server = ControllerServer(
        metrics=ControllerMetrics(known_phases=[p.value for p in Phase]),
        on_push=on_push,
        hook_secret=token,  # the controller's ROLLOUT_HOOK_SECRET holds the same token
    )
    server.start()
    try:
        # the body notification-controller posts for the GitRepository's new artifact
        event = {
            "involvedObject": {
                "apiVersion": "source.toolkit.fluxcd.io/v1",
                "kind": "GitRepository",
                "name": "rollout-specs",
                "namespace": "flux-system",
            },
            "severity": "info",
            "timestamp": "2026-11-26T10:00:00Z",
            "message": "stored artifact for commit 'checkout: roll out v2'",
            "reason": "NewArtifact",
            "reportingController": "source-controller",
            "metadata": {"revision": f"main@sha1:{COMMIT}"},
        }
        body = json.dumps(event).encode()
        signature = "sha256=" + hmac.new(token.encode(), body, hashlib.sha256).hexdigest()
        request = urllib.request.Request(
            f"{server.url}{FLUX_HOOK_PATH}",
            data=body,
            headers={"Content-Type": "application/json", "X-Signature": signature},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status in (200, 202)
        assert synced.wait(5)
        assert pushes == [("main", COMMIT)]
        forged = urllib.request.Request(
            f"{server.url}{FLUX_HOOK_PATH}",
            data=body,
            headers={"X-Signature": "sha256=" + "0" * 64},
            method="POST",
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(forged, timeout=5)
        assert refused.value.code == 401
        assert len(pushes) == 1
    finally:
        server.stop()


def test_the_receiver_and_alert_watch_the_spec_repository() -> None:
    notifications = documents("notifications.yaml")
    sources = documents("sources.yaml")
    repository = find(sources, "GitRepository", "rollout-specs")
    receiver = find(notifications, "Receiver", "rollout-specs")
    assert receiver["spec"]["resources"][0]["name"] == repository["metadata"]["name"]
    alert = find(notifications, "Alert", "rollout-specs-changed")
    assert alert["spec"]["eventSources"] == [{"kind": "GitRepository", "name": "rollout-specs"}]


def test_the_flux_patch_hands_exactly_the_managed_routes_over(tmp_path: Path) -> None:
    shop = find(documents("kustomizations.yaml"), "Kustomization", "shop")
    app = REPO_ROOT / shop["spec"]["path"]
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [os.path.relpath(app, overlay)],
                "patches": shop["spec"]["patches"],
            }
        )
    )
    built = [d for d in yaml.safe_load_all(kustomize(overlay)) if d]
    labels = {"HorizontalPodAutoscaler": "HPA ", "HTTPRoute": "HTTPRoute ", "Service": "Service "}
    handed_over = {
        labels.get(d["kind"], "") + d["metadata"]["name"]
        for d in built
        if (d["metadata"].get("annotations") or {}).get("kustomize.toolkit.fluxcd.io/ssa")
        == "IfNotPresent"
    }
    managed: set[str] = set()
    for spec in yaml.safe_load_all(
        "\n---\n".join(
            p.read_text() for p in sorted((REPO_ROOT / "examples/rollouts").glob("*.yaml"))
        )
    ):
        if spec and spec.get("kind") == "Rollout":
            traffic = spec["spec"]["traffic"]
            managed.update(ref["name"] for ref in traffic.get("virtualServices", []))
            for ref in traffic.get("httpRoutes", []):
                managed.add(f"HTTPRoute {ref['name']}")
                managed.update(f"Service {ref[key]}" for key in ("stableService", "canaryService"))
            sized_by = (spec["spec"].get("workload", {}).get("managed") or {}).get("autoscaler")
            managed.update([f"HPA {sized_by}"] if sized_by else [])
    assert handed_over == managed
