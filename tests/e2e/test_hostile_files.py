"""Hostile files in the spec repository, end to end, and the Rollout API gone.

- One commit holds a recursive-alias file, a 50 MB file and a symbolic link to a file
  outside the repository (carrying a unique marker), beside a valid change: the valid
  change rolls out; each bad file is reported once, by its path, in the log, on
  ``/readyz`` and in ``rollout_spec_files_invalid``; the marker appears nowhere (log,
  Rollout status, Events, alerts, ``/readyz``, ``/metrics``).
- The rollout's own file turned into a recursive alias: its Rollout is marked
  ``SpecValid=False`` with the problem and keeps its last valid spec; it is not deleted.
- The CRD deleted under a running controller: ``/readyz`` answers 503 with the reason,
  ``rollout_controller_condition`` drops to 0, one log line and no traceback; the CRD
  applied again makes it ready.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from pathlib import Path

import kubernetes
import pytest
import yaml

from rollout.controller import Controller
from rollout_local.receiver import WebhookReceiver
from tests.e2e.world import (
    NAMESPACE,
    REPO_ROOT,
    SpecRepo,
    TrafficSimulator,
    git,
    read_rollout,
    rollout_status,
    wait_for,
)
from tests.spec.hostile import RECURSIVE_ALIAS

pytestmark = pytest.mark.slow

MARKER = "MARKER-e2e-3b9f0c2d-not-for-anyone"


def get(controller: Controller, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"{controller.server.url}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def metric(controller: Controller, name: str, **labels: str) -> float | None:
    return controller.metrics.registry.get_sample_value(name, labels)


def commit_hostile_files_beside(repo: SpecRepo, version: str, outside: Path) -> None:
    rollouts = repo.work / "rollouts"
    (rollouts / "loop.yaml").write_text(RECURSIVE_ALIAS)
    with (rollouts / "big.yaml").open("wb") as big:
        big.write(b"# padding\n" * (5 * 2**20))  # 50 MiB
    (rollouts / "token.yaml").symlink_to(outside)
    repo.push(version, hold="2s")  # commits every file of the work tree together


def test_hostile_files_beside_a_valid_change_stop_nothing_and_leak_nothing(
    polling_controller: Controller,
    app: kubernetes.client.ApiClient,
    spec_repo: SpecRepo,
    traffic: TrafficSimulator,
    receiver: WebhookReceiver,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    outside = tmp_path / "outside" / "service-account-token"
    outside.parent.mkdir()
    outside.write_text(f"apiVersion: canary.rollout.dev/v1alpha1\nkind: Rollout\n# {MARKER}\n")
    wait_for(
        lambda: rollout_status(app).get("stableVersion") == "v1", timeout=30, what="v1 adopted"
    )

    commit_hostile_files_beside(spec_repo, "v2", outside)
    wait_for(
        lambda: rollout_status(app).get("stableVersion") == "v2", timeout=150, what="v2 promoted"
    )
    time.sleep(2)  # several more syncs of the same commit

    bad = {
        "rollouts/big.yaml": "rollouts/big.yaml: 52428800 bytes, over the limit of 1048576",
        "rollouts/loop.yaml": "rollouts/loop.yaml:3: recursive alias *loop: it refers to itself",
        "rollouts/token.yaml": "rollouts/token.yaml: a symbolic link: links are never followed",
    }
    lines = [record.getMessage() for record in caplog.records]
    for path, problem in bad.items():
        assert [line for line in lines if path in line] == [f"invalid spec: {problem}"]
    status, readyz = get(polling_controller, "/readyz")
    assert (status, readyz.splitlines()) == (
        200,
        ["ok", f"warning: SpecFilesValid: 3 spec file(s) with problems: {', '.join(bad)}"],
    )
    assert metric(polling_controller, "rollout_spec_files_invalid") == 3
    assert metric(polling_controller, "rollout_git_sync_total", result="failure") is None

    events = kubernetes.client.CoreV1Api(app).list_namespaced_event(NAMESPACE)
    everything = [
        caplog.text,
        json.dumps(read_rollout(app)),
        json.dumps([(event.reason, event.message) for event in events.items]),
        json.dumps([alert.json for alert in receiver.received]),
        readyz,
        get(polling_controller, "/metrics")[1],
    ]
    assert not [text for text in everything if MARKER in text]
    assert not [text for text in everything if "service-account-token" in text]
    assert "Traceback" not in caplog.text


def test_a_rollout_whose_file_turns_into_a_recursive_alias_keeps_its_spec_and_is_told(
    polling_controller: Controller,
    app: kubernetes.client.ApiClient,
    spec_repo: SpecRepo,
    traffic: TrafficSimulator,
) -> None:
    wait_for(
        lambda: rollout_status(app).get("stableVersion") == "v1", timeout=30, what="v1 adopted"
    )
    (spec_repo.work / "rollouts" / "checkout.yaml").write_text(RECURSIVE_ALIAS)
    git(spec_repo.work, "commit", "-qam", "checkout: a loop")
    git(spec_repo.work, "push", "-q", "origin", "main")

    def spec_valid() -> dict[str, str] | None:
        conditions = {c["type"]: c for c in rollout_status(app).get("conditions", [])}
        found = conditions.get("SpecValid")
        return found if found and found["status"] == "False" else None

    condition = wait_for(spec_valid, timeout=60, what="SpecValid=False")
    assert "rollouts/checkout.yaml:3: recursive alias *loop" in condition["message"]
    time.sleep(2)  # syncs that once would have finished it as deleted
    assert read_rollout(app)["spec"]["version"] == "v1"
    assert rollout_status(app)["stableVersion"] == "v1"


def test_a_deleted_crd_makes_the_controller_unready_once_and_its_return_ready(
    polling_controller: Controller,
    app: kubernetes.client.ApiClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    wait_for(lambda: get(polling_controller, "/readyz")[0] == 200, timeout=30, what="ready")
    extensions = kubernetes.client.ApiextensionsV1Api(app)
    extensions.delete_custom_resource_definition("rollouts.canary.rollout.dev")

    wait_for(lambda: get(polling_controller, "/readyz")[0] == 503, timeout=60, what="unready")
    time.sleep(3)  # six more syncs
    status, body = get(polling_controller, "/readyz")
    assert status == 503
    assert "RolloutAPIAvailable: the cluster does not serve canary.rollout.dev/v1alpha1" in body
    condition = {"condition": "RolloutAPIAvailable"}
    assert metric(polling_controller, "rollout_controller_condition", **condition) == 0
    changes = [r.getMessage() for r in caplog.records if "RolloutAPIAvailable" in r.getMessage()]
    assert len(changes) == 1
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.exc_info]

    crd = yaml.safe_load((REPO_ROOT / "manifests" / "crd.yaml").read_text())
    extensions.create_custom_resource_definition(crd)
    wait_for(lambda: get(polling_controller, "/readyz")[0] == 200, timeout=60, what="ready again")
    assert metric(polling_controller, "rollout_controller_condition", **condition) == 1
