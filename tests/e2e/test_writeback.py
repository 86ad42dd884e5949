"""A bad version pushed with ``writeBack: {enabled: true}`` is rolled back and reverted in Git.

The controller runs in-process as ``rollout run`` builds it (git mode, polling every
second), against the local API server, the real Prometheus scraping simulated traffic and
a real bare spec repository. Inputs: v1 adopted, then a push of v3 that fails 5% of its
requests, with write-back on. Outputs: the rollback (weights, status), the revert commit
on the repository's branch (author, trailers, the edited line, the person's commit kept
as its parent), the annotation, Event and counter that record it, and afterwards a
controller that reads the reverted spec and stays Succeeded on v1 with no new rollout.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import kubernetes
import pytest

from rollout.controller import Controller, ControllerSettings
from rollout.metrics.prometheus import PrometheusSettings
from rollout.writeback import WRITE_BACK_ANNOTATION
from rollout_local.processes.prometheus_server import PrometheusServer
from tests.e2e.world import (
    NAMESPACE,
    SpecRepo,
    TrafficSimulator,
    VersionBehaviour,
    git,
    read_rollout,
    read_virtual_service,
    rollout_status,
    route_weights,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.cluster]


@pytest.fixture
def controller(
    kubeconfig: Path,
    prometheus: PrometheusServer,
    spec_repo: SpecRepo,
    tmp_path: Path,
    app: kubernetes.client.ApiClient,
) -> Iterator[Controller]:
    spec_repo.push("v1", write_back=True)
    settings = ControllerSettings(
        prometheus=PrometheusSettings(url=prometheus.url),
        git_url=spec_repo.url,
        cache_dir=tmp_path / "cache",
        poll_interval=1.0,
        kubeconfig=str(kubeconfig),
        listen_host="127.0.0.1",
        listen_port=0,
        leader_election=False,
        identity="e2e-write-back",
    )
    running = Controller(settings)
    running.start()
    yield running
    running.stop()


def test_a_rolled_back_version_is_reverted_in_git_and_the_rollout_settles(
    controller: Controller,
    app: kubernetes.client.ApiClient,
    traffic: TrafficSimulator,
    spec_repo: SpecRepo,
) -> None:
    wait_for(
        lambda: rollout_status(app).get("stableVersion") == "v1", timeout=30, what="v1 adopted"
    )
    traffic.behaviour["v3"] = VersionBehaviour(error_rate=0.05)
    bad_commit = spec_repo.push("v3", write_back=True)
    pushed_at = time.monotonic()

    def reverted() -> str | None:
        head = git(spec_repo.remote, "rev-parse", "refs/heads/main")
        return head if head != bad_commit else None

    # The phase shows RolledBack only until the revert is read back, which can be within
    # a quarter of a second; the warning Event the rollback records stays.
    def rolled_back() -> bool:
        return rollout_status(app).get("phase") == "RolledBack" or "AnalysisFailed" in reasons(app)

    wait_for(rolled_back, timeout=90, what="rollback")
    rolled_back_at = time.monotonic()
    assert route_weights(read_virtual_service(app)) == {"v1": 100}
    revert = wait_for(reverted, timeout=30, what="the revert commit")
    written_at = time.monotonic()

    remote = spec_repo.remote
    assert git(remote, "rev-parse", f"{revert}^") == bad_commit  # Alice's commit is kept
    who = git(remote, "log", "-1", "--format=%an <%ae>", revert)
    assert who == "rollout-controller <rollout-controller@users.noreply.local>"
    message = git(remote, "log", "-1", "--format=%B", revert)
    assert message.startswith("Revert shop/checkout to v1: v3 was rolled back")
    assert "istio-error-ratio" in message and "against threshold 0.01" in message
    assert "n=" in message and "p=" in message
    assert "Rollout: shop/checkout" in message and "Rollout-Revision: v3@" in message
    diff = git(remote, "diff", "--unified=0", bad_commit, revert)
    changed = [
        line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]
    assert changed == ["-  version: v3", "+  version: v1"]

    # the controller reads the reverted spec: Succeeded on v1, and no rollout starts
    def settled() -> bool:
        body = read_rollout(app)
        status = body.get("status") or {}
        return body["spec"]["version"] == "v1" and status.get("phase") == "Succeeded"

    wait_for(settled, timeout=30, what="the reverted spec read back")
    body = read_rollout(app)
    assert body["metadata"]["annotations"]["canary.rollout.dev/commit"] == revert
    assert '"outcome":"written"' in body["metadata"]["annotations"][WRITE_BACK_ANNOTATION]
    assert revert in body["metadata"]["annotations"][WRITE_BACK_ANNOTATION]
    status = body["status"]
    assert status["stableVersion"] == "v1" and "failed" not in status
    time.sleep(4)  # several ticks and polls later: still no new rollout, still one commit
    status = rollout_status(app)
    assert status["phase"] == "Succeeded" and status.get("canaryVersion") is None
    assert route_weights(read_virtual_service(app)) == {"v1": 100}
    assert git(remote, "rev-parse", "refs/heads/main") == revert
    assert traffic.invalid_weights == []

    recorded = reasons(app)
    assert "WrittenBack" in recorded and revert[:12] in (recorded["WrittenBack"] or "")
    assert "SpecReverted" in recorded and "AnalysisFailed" in recorded
    exposition = controller.metrics.exposition()[0].decode()
    assert (
        'rollout_write_backs_total{namespace="shop",result="written",rollout="checkout"} 1.0'
        in exposition
    )
    assert controller.write_back is not None
    result = controller.write_back.results[0]
    print(
        f"rollback {rolled_back_at - pushed_at:.1f}s after the push; revert on the remote "
        f"{written_at - rolled_back_at:.2f}s after the rollback was seen; the write-back "
        f"itself took {result.seconds:.3f}s in {result.attempts} attempt(s)"
    )


def reasons(app: kubernetes.client.ApiClient) -> dict[str, str | None]:
    """The Events recorded on the Rollout, by reason (the last message of each)."""
    events = kubernetes.client.CoreV1Api(app).list_namespaced_event(
        NAMESPACE, field_selector="involvedObject.name=checkout"
    )
    return {event.reason or "": event.message for event in events.items}
