"""The local webhook receiver, driven by a plain ``http.client`` client.

Input: POSTs of JSON and non-JSON bodies, signed and unsigned, one at a time and twenty at
once, with the receiver told to fail, rate-limit or hang. Output: what ``received`` records
(path, headers, body, JSON, status, signature validity), what the client is answered, that
``wait_for`` and ``stop`` are bounded, and the one-line rendering of each alert kind.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import threading
import time
from collections.abc import Iterator

import pytest

from rollout.analysis.verdicts import Evidence, Outcome
from rollout.events import Notification
from rollout.notify import discord, slack, teams, webhook
from rollout.spec.alerts import AlertEvent
from rollout_local.receiver import WebhookReceiver, format_alert

SECRET = "s3cret"


def post(
    receiver: WebhookReceiver,
    path: str,
    body: bytes,
    *,
    headers: dict[str, str] | None = None,
    timeout: float = 5.0,
) -> tuple[int, dict[str, str], bytes]:
    host, port = receiver.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        connection.request("POST", path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def signature(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as running:
        yield running


def test_records_every_request(receiver: WebhookReceiver) -> None:
    status, _, answer = post(receiver, "/hooks/a?x=1", b'{"a": 1}', headers={"X-Test": "yes"})
    post(receiver, "/plain", b"not json")

    assert (status, answer) == (200, b"ok")
    first, second = receiver.received
    assert (first.method, first.path, first.body, first.json) == (
        "POST",
        "/hooks/a?x=1",
        b'{"a": 1}',
        {"a": 1},
    )
    assert first.header("x-test") == "yes" and first.headers["X-Test"] == "yes"
    assert (first.status, first.hung, first.signature_valid) == (200, False, None)
    assert (second.body, second.json) == (b"not json", None)


def test_received_is_a_snapshot(receiver: WebhookReceiver) -> None:
    post(receiver, "/", b"{}")
    snapshot = receiver.received
    post(receiver, "/", b"{}")

    assert len(snapshot) == 1 and len(receiver.received) == 2
    receiver.clear()
    assert receiver.received == []


def test_fail_next_answers_the_status_then_recovers(receiver: WebhookReceiver) -> None:
    receiver.fail_next(2, status=429, retry_after="3", body="slow down")

    answers = [post(receiver, "/", b"{}") for _ in range(3)]

    assert [a[0] for a in answers] == [429, 429, 200]
    assert answers[0][1]["Retry-After"] == "3" and answers[0][2] == b"slow down"
    assert "Retry-After" not in answers[2][1]
    assert [r.status for r in receiver.received] == [429, 429, 200]


def test_hang_next_holds_the_request_and_stop_releases_it(receiver: WebhookReceiver) -> None:
    receiver.hang_next(2, seconds=30.0)

    with pytest.raises(TimeoutError):
        post(receiver, "/", b"{}", timeout=0.3)
    outcome: list[object] = []
    client = threading.Thread(
        target=lambda: outcome.append(post(receiver, "/", b"{}", timeout=10.0)[0])
    )
    client.start()
    receiver.wait_for(2, timeout=2.0)
    started = time.monotonic()
    receiver.stop()
    client.join(5.0)

    assert time.monotonic() - started < 1.0
    assert [r.hung for r in receiver.received] == [True, True]
    assert not client.is_alive() and outcome == [200]


def test_wait_for_is_bounded(receiver: WebhookReceiver) -> None:
    threading.Timer(0.1, post, args=(receiver, "/", b"{}")).start()

    assert len(receiver.wait_for(1, timeout=2.0)) == 1
    with pytest.raises(TimeoutError, match="1 request"):
        receiver.wait_for(2, timeout=0.2)


def test_verifies_the_generic_webhook_signature() -> None:
    body = b'{"kind":"RolloutEvent"}'
    with WebhookReceiver(signing_secret=SECRET) as lenient:
        post(lenient, "/", body, headers={"X-Rollout-Signature-256": signature(body)})
        post(lenient, "/", body, headers={"X-Rollout-Signature-256": signature(body, "other")})
        post(lenient, "/", body)
        assert [r.signature_valid for r in lenient.received] == [True, False, False]
        assert [r.status for r in lenient.received] == [200, 200, 200]
    with WebhookReceiver(signing_secret=SECRET, reject_bad_signatures=True) as strict:
        good = post(strict, "/", body, headers={"X-Rollout-Signature-256": signature(body)})
        bad = post(strict, "/", body, headers={"X-Rollout-Signature-256": "sha256=00"})
        assert (good[0], bad[0]) == (200, 401)


def test_concurrent_posts_are_all_recorded(receiver: WebhookReceiver) -> None:
    statuses: list[int] = []
    errors: list[BaseException] = []

    def send(i: int) -> None:
        try:
            statuses.append(post(receiver, f"/{i}", json.dumps({"i": i}).encode())[0])
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10.0)

    assert errors == [] and statuses == [200] * 20
    received = receiver.wait_for(20, timeout=5.0)
    assert sorted(r.json["i"] for r in received) == list(range(20))


def test_each_receiver_gets_its_own_free_port() -> None:
    idle = WebhookReceiver()
    with pytest.raises(RuntimeError):
        _ = idle.url
    with WebhookReceiver() as one, WebhookReceiver() as two:
        assert one.url != two.url
        assert one.url.startswith("http://127.0.0.1:")
        assert one.start() is one  # idempotent


NOTIFICATION = Notification(
    event=AlertEvent.ROLLED_BACK,
    rollout="checkout",
    namespace="shop",
    from_version="v1",
    to_version="v2",
    summary="error ratio 5.2% is above 1%",
    step=2,
    weight=20,
    evidence=(
        Evidence(
            policy="istio-error-ratio",
            check="error-ratio",
            outcome=Outcome.FAIL,
            message="error ratio 5.2% is above 1%",
            value=0.052,
            threshold=0.01,
        ),
    ),
    revision="abc",
)


def test_echo_prints_one_readable_line_per_alert() -> None:
    lines: list[str] = []
    payloads = [
        webhook.webhook_body(NOTIFICATION),
        slack.slack_payload(NOTIFICATION),
        teams.teams_payload(NOTIFICATION),
        discord.discord_payload(NOTIFICATION),
    ]
    with WebhookReceiver(echo=lines.append) as echoing:
        for payload in payloads:
            post(echoing, "/alerts", json.dumps(payload).encode())
        post(echoing, "/alerts", b"plain words")

    assert len(lines) == 5 and all("\n" not in line for line in lines)
    assert all(" POST /alerts -> 200  " in line for line in lines)
    generic, slack_line, teams_line, discord_line, plain = (
        line.split("  ", 1)[1] for line in lines
    )
    assert generic == (
        "[rolledBack] shop/checkout v1 -> v2 step 2 weight 20%: error ratio 5.2% is above 1%"
        " | failed istio-error-ratio/error-ratio value 0.052 threshold 0.01"
    )
    headline = "Rollout shop/checkout: v2 rolled back, traffic back on v1"
    assert slack_line.startswith(f"[slack] {headline}")
    assert teams_line.startswith(f"[teams] {headline}")
    assert discord_line == f"[discord] {headline}"
    assert plain == "plain words"


def test_format_alert_marks_signatures() -> None:
    body = json.dumps(webhook.webhook_body(NOTIFICATION)).encode()
    with WebhookReceiver(signing_secret=SECRET) as checking:
        post(checking, "/", body, headers={"X-Rollout-Signature-256": signature(body)})
        post(checking, "/", body, headers={"X-Rollout-Signature-256": signature(body, "x")})
        good, bad = (format_alert(r) for r in checking.received)

    assert "-> 200 signed  [rolledBack]" in good
    assert "-> 200 BAD-SIGNATURE  [rolledBack]" in bad
