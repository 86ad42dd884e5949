"""The generic JSON webhook: the documented RolloutEvent body and its HMAC signature.

Input: a notification, a signing secret, a receiver. Output: the exact body and headers
received; the signature checked here with ``hmac`` directly (not with our own helper), that
it fails under another secret, that the delivery id is stable across retries, and that the
receiver's own verification accepts or refuses the post.
"""

from __future__ import annotations

import hashlib
import hmac

import pytest

from rollout.errors import NotifyRejected
from rollout.events import Notification
from rollout.notify.notifier import JsonPoster
from rollout.notify.webhook import GenericWebhookNotifier, verify_signature
from rollout_local.receiver import WebhookReceiver
from tests.notify.samples import COMMIT, FAST_POLICY, make_notification

SECRET = "hunter2-shared-secret"


def notifier_for(url: str, secret: str | None = SECRET) -> GenericWebhookNotifier:
    poster = JsonPoster(target="deploy-log", url=url, policy=FAST_POLICY)
    return GenericWebhookNotifier(poster=poster, signing_secret=secret)


def test_body_is_the_documented_rollout_event(
    receiver: WebhookReceiver, secret_url: str, notification: Notification
) -> None:
    notifier_for(secret_url).send(notification)

    [request] = receiver.received
    assert request.json == {
        "apiVersion": "canary.rollout.dev/v1alpha1",
        "kind": "RolloutEvent",
        "event": "rolledBack",
        "rollout": "checkout",
        "namespace": "shop",
        "fromVersion": "v1",
        "toVersion": "v2",
        "summary": "rolled back at step 2: error ratio 5.2% is above 1%",
        "step": 2,
        "weight": 20,
        "evidence": [
            {
                "policy": "istio-error-ratio",
                "check": "error-ratio",
                "outcome": "fail",
                "message": "error ratio 5.2% is above 1%",
                "query": 'sum(rate(istio_requests_total{response_code=~"5.."}[1m]))',
                "value": 0.052,
                "threshold": 0.01,
                "sample_size": 1200,
                "p_value": 0.0003,
                "stable_value": 0.002,
            },
            {
                "policy": "istio-latency-p99",
                "check": "p99",
                "outcome": "pass",
                "message": "p99 120 ms is within 300 ms",
                "value": 120.0,
                "threshold": 300.0,
            },
        ],
        "commit": COMMIT,
        "author": "Ada Lovelace",
        "revision": COMMIT,
        "at": 1767225600.0,
    }
    assert request.header("X-Rollout-Event") == "rolledBack"
    # a rollback happens once per revision: the step is not part of its key
    expected_id = hashlib.sha256(f"shop/checkout/rolledBack/v2/{COMMIT}".encode()).hexdigest()
    assert request.header("X-Rollout-Delivery") == expected_id


def test_signature_verifies_with_the_secret_and_fails_with_another(
    receiver: WebhookReceiver, secret_url: str, notification: Notification
) -> None:
    notifier_for(secret_url).send(notification)

    [request] = receiver.received
    header = request.header("X-Rollout-Signature-256")
    assert header is not None and header.startswith("sha256=")
    good = hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    bad = hmac.new(b"another-secret", request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(header, f"sha256={good}")
    assert not hmac.compare_digest(header, f"sha256={bad}")
    assert verify_signature(request.body, header, SECRET)
    assert not verify_signature(request.body, header, "another-secret")
    assert not verify_signature(request.body + b" ", header, SECRET)
    assert not verify_signature(request.body, None, SECRET)
    assert not verify_signature(request.body, good, SECRET)  # the prefix is required


def test_the_receiver_accepts_a_good_signature(notification: Notification) -> None:
    with WebhookReceiver(signing_secret=SECRET, reject_bad_signatures=True) as checking:
        notifier_for(f"{checking.url}/hook").send(notification)

        [request] = checking.received
        assert request.signature_valid is True
        assert request.status == 200


def test_the_receiver_refuses_a_bad_signature(notification: Notification) -> None:
    with WebhookReceiver(signing_secret=SECRET, reject_bad_signatures=True) as checking:
        with pytest.raises(NotifyRejected) as caught:
            notifier_for(f"{checking.url}/hook", secret="wrong").send(notification)

        assert caught.value.status == 401
        [request] = checking.received
        assert request.signature_valid is False


def test_retries_carry_the_same_delivery_id_body_and_signature(
    receiver: WebhookReceiver, secret_url: str, notification: Notification
) -> None:
    receiver.fail_next(1, status=502)

    notifier_for(secret_url).send(notification)

    first, second = receiver.received
    assert (first.status, second.status) == (502, 200)
    assert first.body == second.body
    for name in ("X-Rollout-Delivery", "X-Rollout-Signature-256", "X-Rollout-Event"):
        assert first.header(name) == second.header(name)


def test_a_new_revision_has_a_new_delivery_id(receiver: WebhookReceiver, secret_url: str) -> None:
    notifier = notifier_for(secret_url)
    notifier.send(make_notification(revision="a" * 40))
    notifier.send(make_notification(revision="b" * 40))

    first, second = receiver.received
    assert first.header("X-Rollout-Delivery") != second.header("X-Rollout-Delivery")


def test_without_a_secret_no_signature_is_sent(
    receiver: WebhookReceiver, secret_url: str, notification: Notification
) -> None:
    notifier_for(secret_url, secret=None).send(notification)

    [request] = receiver.received
    assert request.header("X-Rollout-Signature-256") is None
    assert request.header("X-Rollout-Delivery") is not None
