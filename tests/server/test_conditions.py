"""The controller's own conditions: inputs are the spec files with problems and the errors
of listing Rollouts; outputs are what ``/readyz`` answers, the gauges and the log lines."""

from __future__ import annotations

import http.client
import logging

import pytest

from rollout.errors import ClusterError, NotFound
from rollout.server.conditions import Conditions
from rollout.server.http import ControllerServer
from rollout.server.metrics import ControllerMetrics


def readyz(server: ControllerServer) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        connection.request("GET", "/readyz")
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def gauge(metrics: ControllerMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_a_missing_crd_makes_the_controller_unready_with_the_reason_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    metrics = ControllerMetrics()
    conditions = Conditions(metrics)
    conditions.rollout_api(None)
    missing = NotFound("listing rollouts in all namespaces (HTTP 404)")

    with caplog.at_level(logging.INFO, logger="rollout.controller"):
        for _ in range(5):
            conditions.rollout_api(missing)
        ready, text = conditions.readiness(synced=True)
        assert gauge(metrics, "rollout_controller_condition", condition="RolloutAPIAvailable") == 0
        conditions.rollout_api(None)

    assert not ready
    assert text.startswith("not ready: RolloutAPIAvailable: the cluster does not serve")
    assert "is the CRD installed?" in text
    assert [record.levelname for record in caplog.records] == ["WARNING", "INFO"]
    assert "RolloutAPIAvailable=False (CRDMissing)" in caplog.records[0].getMessage()
    assert "RolloutAPIAvailable=True (Served)" in caplog.records[1].getMessage()
    assert conditions.readiness(synced=True) == (True, "ok")
    assert gauge(metrics, "rollout_controller_condition", condition="RolloutAPIAvailable") == 1


def test_an_unreachable_api_is_a_reason_of_its_own() -> None:
    conditions = Conditions()
    conditions.rollout_api(ClusterError("listing rollouts in all namespaces: connection refused"))
    condition = conditions.get("RolloutAPIAvailable")
    assert condition is not None
    assert (condition.ok, condition.reason) == (False, "APIUnreachable")
    assert condition.message.endswith("connection refused")


def test_spec_files_with_problems_are_a_warning_and_a_count_not_unreadiness() -> None:
    metrics = ControllerMetrics()
    conditions = Conditions(metrics)
    paths = [f"specs/bad-{index:02}.yaml" for index in range(12)]

    conditions.spec_files([*paths, paths[0]])

    ready, text = conditions.readiness(synced=True)
    assert ready
    assert text.splitlines() == [
        "ok",
        "warning: SpecFilesValid: 12 spec file(s) with problems: "
        + ", ".join(paths[:10])
        + ", ...",
    ]
    assert gauge(metrics, "rollout_spec_files_invalid") == 12
    conditions.spec_files([])
    assert conditions.readiness(synced=True) == (True, "ok")
    assert gauge(metrics, "rollout_spec_files_invalid") == 0


def test_before_the_first_sync_the_answer_says_so() -> None:
    assert Conditions().readiness(synced=False) == (False, "not ready: no successful sync")


def test_readyz_answers_with_the_conditions(metrics: ControllerMetrics) -> None:
    conditions = Conditions(metrics)
    with ControllerServer(metrics=metrics, conditions=conditions) as server:
        server.mark_ready()
        conditions.spec_files(["specs/loop.yaml"])
        assert readyz(server) == (
            200,
            b"ok\nwarning: SpecFilesValid: 1 spec file(s) with problems: specs/loop.yaml\n",
        )
        conditions.rollout_api(NotFound("listing rollouts in all namespaces (HTTP 404)"))
        assert readyz(server)[0] == 503


def test_a_replica_that_stops_leading_forgets_what_its_last_sync_saw(
    metrics: ControllerMetrics,
) -> None:
    conditions = Conditions(metrics)
    with ControllerServer(metrics=metrics, conditions=conditions) as server:
        server.mark_ready()
        conditions.spec_files(["specs/loop.yaml"])
        conditions.rollout_api(ClusterError("connection refused"))
        assert readyz(server)[0] == 503
        assert gauge(metrics, "rollout_controller_condition", condition="RolloutAPIAvailable") == 0

        conditions.forget(*Conditions.SYNC_CONDITIONS)  # as a leader stepping down does

        # a follower that cannot know whether the API answers is ready to take over, as
        # every follower is; the leader's next sync sets both again
        assert readyz(server) == (200, b"ok\n")
        assert conditions.failing() == []
        for condition in Conditions.SYNC_CONDITIONS:
            assert gauge(metrics, "rollout_controller_condition", condition=condition) is None
