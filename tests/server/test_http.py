"""The controller's HTTP server, exercised with real requests on 127.0.0.1.

Inputs: probe, scrape and webhook requests sent with ``http.client`` (and a raw socket
where a client library would not send what we need: a body shorter than announced, no
``Content-Length``). Outputs: status codes, headers, the metrics text, the calls made to
``on_push``, and the access log lines.
"""

from __future__ import annotations

import http.client
import json
import logging
import socket

import pytest
from prometheus_client.parser import text_string_to_metric_families

from rollout.server import hooks
from rollout.server.http import FLUX_HOOK_PATH, GIT_HOOK_PATH, ControllerServer
from rollout.server.metrics import ControllerMetrics
from tests.server.hook_secret import HOOK_SECRET

COMMIT = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
PUSH = json.dumps({"ref": "refs/heads/main", "after": COMMIT, "commits": []}).encode()
Pushes = list[tuple[str | None, str | None]]


def request(
    server: ControllerServer,
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def github(body: bytes, *, secret: str = HOOK_SECRET, event: str = "push") -> dict[str, str]:
    return {
        "X-Hub-Signature-256": hooks.sign_body(body, secret),
        "X-GitHub-Event": event,
        "Content-Type": "application/json",
    }


def raw_exchange(server: ControllerServer, head: bytes, body_part: bytes = b"") -> bytes:
    """Send a request head (and maybe part of a body) and read until the server closes."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(head + body_part)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


# -- probes -----------------------------------------------------------------------------


def test_healthz_follows_the_liveness_callback(metrics: ControllerMetrics) -> None:
    alive = [True]
    with ControllerServer(metrics=metrics, is_alive=lambda: alive[0]) as server:
        assert request(server, "GET", "/healthz")[0] == 200
        alive[0] = False
        assert request(server, "GET", "/healthz")[0] == 503


def test_a_raising_probe_callback_answers_503(metrics: ControllerMetrics) -> None:
    def broken() -> bool:
        raise RuntimeError("loop state unavailable")

    with ControllerServer(metrics=metrics, is_alive=broken, is_ready=broken) as server:
        assert request(server, "GET", "/healthz")[0] == 503
        assert request(server, "GET", "/readyz")[0] == 503


def test_readyz_is_503_until_the_first_sync(server: ControllerServer) -> None:
    status, _, body = request(server, "GET", "/readyz")
    assert (status, body) == (503, b"not ready: no successful sync\n")
    server.mark_ready()
    assert request(server, "GET", "/readyz")[:1] == (200,)
    assert request(server, "HEAD", "/readyz")[2] == b""


def test_readyz_can_follow_a_callback(metrics: ControllerMetrics) -> None:
    synced = [False]
    with ControllerServer(metrics=metrics, is_ready=lambda: synced[0]) as server:
        assert request(server, "GET", "/readyz")[0] == 503
        synced[0] = True
        assert request(server, "GET", "/readyz")[0] == 200


def test_unknown_paths_and_wrong_methods(server: ControllerServer) -> None:
    assert request(server, "GET", "/nope")[0] == 404
    status, headers, _ = request(server, "POST", "/metrics", body=b"")
    assert (status, headers["Allow"]) == (405, "GET, HEAD")
    status, headers, _ = request(server, "GET", GIT_HOOK_PATH)
    assert (status, headers["Allow"]) == (405, "POST")
    assert request(server, "GET", FLUX_HOOK_PATH)[0] == 405
    assert request(server, "PUT", GIT_HOOK_PATH, body=b"{}")[0] == 405


# -- metrics ----------------------------------------------------------------------------


def test_metrics_exposes_the_helpers_values(
    server: ControllerServer, metrics: ControllerMetrics
) -> None:
    metrics.set_rollout_phases(
        [
            ("shop", "checkout", "Progressing"),
            ("shop", "cart", "Progressing"),
            ("ops", "api", "Succeeded"),
        ]
    )
    metrics.set_canary_weight("shop", "checkout", 20)
    metrics.count_verdict("shop", "checkout", policy="error-ratio", outcome="pass")
    metrics.count_verdict("shop", "checkout", policy="error-ratio", outcome="pass")
    metrics.count_verdict("shop", "checkout", policy="latency-p99", outcome="fail")
    metrics.observe_reconcile(0.03)
    metrics.count_reconcile_error("shop", "cart", kind="ClusterError")
    metrics.record_git_sync(success=True, at=1_700_000_000.5)
    metrics.record_git_sync(success=False)
    metrics.count_alert(target="team-slack", event="rolled-back", sent=True)
    metrics.count_alert(target="team-slack", event="rolled-back", sent=False)
    metrics.set_leader(True)

    status, headers, body = request(server, "GET", "/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=")
    assert "charset=utf-8" in headers["Content-Type"]
    found = samples(body.decode())
    assert found[("rollout_rollouts", (("phase", "Progressing"),))] == 2
    assert found[("rollout_rollouts", (("phase", "Succeeded"),))] == 1
    assert found[("rollout_rollouts", (("phase", "Failed"),))] == 0
    assert found[("rollout_canary_weight", (("namespace", "shop"), ("rollout", "checkout")))] == 20
    verdict = (("namespace", "shop"), ("outcome", "pass"), ("policy", "error-ratio"))
    assert found[("rollout_analysis_verdicts_total", (*verdict, ("rollout", "checkout")))] == 2
    assert found[("rollout_reconcile_duration_seconds_count", ())] == 1
    assert found[("rollout_reconcile_duration_seconds_sum", ())] == pytest.approx(0.03)
    error = (("kind", "ClusterError"), ("namespace", "shop"), ("rollout", "cart"))
    assert found[("rollout_reconcile_errors_total", error)] == 1
    assert found[("rollout_git_last_sync_timestamp_seconds", ())] == 1_700_000_000.5
    assert found[("rollout_git_sync_total", (("result", "success"),))] == 1
    assert found[("rollout_git_sync_total", (("result", "failure"),))] == 1
    alert = (("event", "rolled-back"), ("result", "failed"), ("target", "team-slack"))
    assert found[("rollout_alerts_total", alert)] == 1
    assert found[("rollout_leader", ())] == 1


def test_metrics_speaks_openmetrics_when_asked(server: ControllerServer) -> None:
    status, headers, body = request(
        server, "GET", "/metrics", headers={"Accept": "application/openmetrics-text"}
    )
    assert status == 200
    assert headers["Content-Type"].startswith("application/openmetrics-text")
    assert body.rstrip().endswith(b"# EOF")


# -- hooks ------------------------------------------------------------------------------


def test_github_push_with_a_good_signature_schedules_one_sync(
    server: ControllerServer, pushes: Pushes, metrics: ControllerMetrics
) -> None:
    status, _, body = request(server, "POST", GIT_HOOK_PATH, body=PUSH, headers=github(PUSH))
    assert status == 202
    assert json.loads(body) == {"status": "accepted", "branch": "main", "commit": COMMIT}
    assert pushes == [("main", COMMIT)]
    found = samples(metrics.exposition()[0].decode())
    assert (
        found[("rollout_webhook_requests_total", (("hook", "git"), ("outcome", "accepted")))] == 1
    )


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(github(PUSH, secret="guess"), id="wrong-secret"),
        pytest.param(github(PUSH + b"\n"), id="tampered"),
        pytest.param({"X-GitHub-Event": "push"}, id="unsigned"),
        pytest.param({"X-Gitlab-Token": "guess"}, id="wrong-gitlab-token"),
    ],
)
def test_bad_or_missing_signature_is_401_and_nothing_happens(
    server: ControllerServer, pushes: Pushes, headers: dict[str, str]
) -> None:
    assert request(server, "POST", GIT_HOOK_PATH, body=PUSH, headers=headers)[0] == 401
    assert pushes == []


def test_github_ping_is_answered_without_a_sync(server: ControllerServer, pushes: Pushes) -> None:
    ping = b'{"zen": "Keep it logically awesome.", "hook_id": 7}'
    status, _, body = request(
        server, "POST", GIT_HOOK_PATH, body=ping, headers=github(ping, event="ping")
    )
    assert (status, json.loads(body)["status"]) == (200, "ignored")
    assert pushes == []


def test_gitlab_push_with_the_token(server: ControllerServer, pushes: Pushes) -> None:
    body = json.dumps({"ref": "refs/heads/prod", "checkout_sha": COMMIT}).encode()
    headers = {"X-Gitlab-Token": HOOK_SECRET, "X-Gitlab-Event": "Push Hook"}
    assert request(server, "POST", GIT_HOOK_PATH, body=body, headers=headers)[0] == 202
    assert pushes == [("prod", COMMIT)]


def test_flux_generic_hmac_on_its_own_path(server: ControllerServer, pushes: Pushes) -> None:
    event = json.dumps(
        {
            "reason": "NewArtifact",
            "metadata": {"source.toolkit.fluxcd.io/revision": f"main@sha1:{COMMIT}"},
        }
    ).encode()
    signed = {"X-Signature": hooks.sign_body(event, HOOK_SECRET)}
    assert request(server, "POST", FLUX_HOOK_PATH, body=event, headers=signed)[0] == 202
    assert pushes == [("main", COMMIT)]
    # a GitHub-style signature is not what the Flux path checks
    assert request(server, "POST", FLUX_HOOK_PATH, body=event, headers=github(event))[0] == 401
    assert request(server, "POST", FLUX_HOOK_PATH, body=event)[0] == 401
    assert pushes == [("main", COMMIT)]


def test_a_signed_request_with_a_broken_body_is_400(
    server: ControllerServer, pushes: Pushes
) -> None:
    body = b"{not json"
    assert request(server, "POST", GIT_HOOK_PATH, body=body, headers=github(body))[0] == 400
    assert pushes == []


def test_oversized_body_is_413_before_the_body_is_read(
    server: ControllerServer, pushes: Pushes
) -> None:
    # announce 10 MiB, send only 1 KiB: the answer must come without waiting for the rest
    head = (
        f"POST {GIT_HOOK_PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: {10 * 1024 * 1024}\r\n"
        f"X-Hub-Signature-256: sha256={'0' * 64}\r\n\r\n"
    ).encode()
    answer = raw_exchange(server, head, b"x" * 1024)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"connection: close" in answer.lower()
    assert pushes == []


def test_expect_100_continue_oversized_is_refused_before_upload(server: ControllerServer) -> None:
    head = (
        f"POST {GIT_HOOK_PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: {1024 * 1024}\r\n"
        "Expect: 100-continue\r\n\r\n"
    ).encode()
    answer = raw_exchange(server, head)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"100 Continue" not in answer


def test_missing_content_length_is_411(server: ControllerServer, pushes: Pushes) -> None:
    head = f"POST {GIT_HOOK_PATH} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    assert raw_exchange(server, head).startswith(b"HTTP/1.1 411 ")
    assert pushes == []


def test_a_body_within_the_cap_is_accepted_at_the_limit(
    server: ControllerServer, pushes: Pushes
) -> None:
    padded = json.loads(PUSH)
    padded["padding"] = ""
    size = len(json.dumps(padded).encode())
    padded["padding"] = "x" * (server.max_body_bytes - size)
    body = json.dumps(padded).encode()
    assert len(body) == server.max_body_bytes
    assert request(server, "POST", GIT_HOOK_PATH, body=body, headers=github(body))[0] == 202
    assert pushes == [("main", COMMIT)]


def test_hooks_are_off_without_a_secret(metrics: ControllerMetrics) -> None:
    with ControllerServer(metrics=metrics, on_push=lambda branch, commit: None) as server:
        assert request(server, "POST", GIT_HOOK_PATH, body=PUSH, headers=github(PUSH))[0] == 404


def test_a_failing_callback_answers_500(metrics: ControllerMetrics) -> None:
    def on_push(branch: str | None, commit: str | None) -> None:
        raise RuntimeError("scheduler is gone")

    with ControllerServer(metrics=metrics, on_push=on_push, hook_secret=HOOK_SECRET) as server:
        assert request(server, "POST", GIT_HOOK_PATH, body=PUSH, headers=github(PUSH))[0] == 500


def test_keep_alive_serves_several_requests_on_one_connection(server: ControllerServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        for path in ("/healthz", "/metrics", "/readyz"):
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            assert response.status in (200, 503)
    finally:
        connection.close()


def test_access_log_is_debug_and_holds_no_secret(
    server: ControllerServer, caplog: pytest.LogCaptureFixture
) -> None:
    headers = github(PUSH)
    with caplog.at_level(logging.DEBUG, logger="rollout.server.http"):
        request(server, "POST", GIT_HOOK_PATH + "?token=query-secret", body=PUSH, headers=headers)
        request(server, "POST", GIT_HOOK_PATH, body=PUSH, headers=github(PUSH, secret="bad"))
        request(server, "GET", "/healthz")
    access = [r for r in caplog.records if r.levelno == logging.DEBUG]
    assert any(f"POST {GIT_HOOK_PATH} 202" in r.getMessage() for r in access)
    assert any("GET /healthz 200" in r.getMessage() for r in access)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert HOOK_SECRET not in text
    assert "query-secret" not in text
    assert headers["X-Hub-Signature-256"].split("=")[1] not in text


def test_start_binds_a_free_port_and_stop_closes_it(metrics: ControllerMetrics) -> None:
    server = ControllerServer(metrics=metrics, port=0).start()
    port = server.port
    assert port > 0
    assert request(server, "GET", "/healthz")[0] == 200
    server.stop()
    server.stop()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
