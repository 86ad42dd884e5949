"""The HTTP hook caller against a real local receiver.

Inputs: a hook spec, a ``HookCall``, and the receiver answering 200, 403, 500 or not at
all. Outputs under test: the exact body and headers posted (signed with HMAC-SHA256), the
answer read from the status (2xx yes, another 4xx no and not retried, 5xx retried and
then failed), a down receiver failing within the hook's retries, and ``load`` nudges
that never block the caller and never overlap for one hook.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from rollout.notify.factory import EnvSecretResolver
from rollout.notify.hooks import HOOK_HEADER, HttpHookCaller
from rollout.notify.webhook import SIGNATURE_HEADER
from rollout.spec.hooks import Hook, HookKind
from rollout.version_ports import HookCall
from rollout_local.receiver import WebhookReceiver

KEY = "hook-signing-key"
EVIDENCE = {"policy": "istio-error-ratio", "outcome": "pass", "value": 0.001}


def make_hook(kind: HookKind = HookKind.CONFIRM_STEP, **extra: Any) -> Hook:
    body = {
        "name": "qa-gate",
        "type": kind.value,
        "url": {"env": "HOOK_URL"},
        "signingSecret": {"env": "HOOK_KEY"},
        "timeout": "1s",
        "retries": 1,
        **extra,
    }
    return Hook.model_validate(body)


CALL = HookCall(
    kind=HookKind.CONFIRM_STEP,
    namespace="shop",
    rollout="checkout",
    stable_version="v1",
    canary_version="v2",
    step=2,
    weight=10,
    next_weight=50,
    phase="Progressing",
    revision="v2@abc",
    evidence=(EVIDENCE,),
)


@pytest.fixture
def signed_receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(signing_secret=KEY) as running:
        yield running


def caller_for(url: str) -> HttpHookCaller:
    return HttpHookCaller(resolver=EnvSecretResolver({"HOOK_URL": url, "HOOK_KEY": KEY}))


def test_a_2xx_is_yes_and_the_body_is_signed(signed_receiver: WebhookReceiver) -> None:
    caller = caller_for(f"{signed_receiver.url}/gate")
    answer = caller.call(make_hook(), CALL)
    assert answer.outcome == "yes" and answer.approved
    [request] = signed_receiver.received
    assert request.path == "/gate"
    assert request.signature_valid is True
    assert request.header(SIGNATURE_HEADER) is not None
    assert request.header(HOOK_HEADER) == "confirm-step"
    assert request.json == {
        "apiVersion": "canary.rollout.dev/v1alpha1",
        "kind": "RolloutHook",
        "name": "qa-gate",
        "hook": "confirm-step",
        "namespace": "shop",
        "rollout": "checkout",
        "stableVersion": "v1",
        "canaryVersion": "v2",
        "step": 2,
        "weight": 10,
        "nextWeight": 50,
        "phase": "Progressing",
        "revision": "v2@abc",
        "evidence": [EVIDENCE],
    }


def test_a_4xx_is_no_with_the_receivers_words_and_is_not_retried(
    signed_receiver: WebhookReceiver,
) -> None:
    signed_receiver.fail_next(1, status=403, body="QA has not signed off")
    answer = caller_for(signed_receiver.url).call(make_hook(), CALL)
    assert answer.outcome == "no"
    assert "HTTP 403" in answer.detail and "QA has not signed off" in answer.detail
    assert len(signed_receiver.received) == 1


def test_a_5xx_is_retried_then_yes(signed_receiver: WebhookReceiver) -> None:
    signed_receiver.fail_next(1, status=503)
    answer = caller_for(signed_receiver.url).call(make_hook(), CALL)
    assert answer.outcome == "yes"
    assert [r.status for r in signed_receiver.received] == [503, 200]


def test_5xx_beyond_the_retries_is_failed(signed_receiver: WebhookReceiver) -> None:
    signed_receiver.fail_next(3, status=500)
    answer = caller_for(signed_receiver.url).call(make_hook(retries=1), CALL)
    assert answer.outcome == "failed"
    assert "2 attempt(s)" in answer.detail
    assert len(signed_receiver.received) == 2


def test_a_down_receiver_is_failed_and_names_no_url() -> None:
    with WebhookReceiver() as stopped:
        url = f"{stopped.url}/s3cr3t-path"
    answer = caller_for(url).call(make_hook(), CALL)
    assert answer.outcome == "failed"
    assert "connection failed" in answer.detail
    assert "s3cr3t" not in answer.detail


def test_a_receiver_that_hangs_times_out_as_failed(signed_receiver: WebhookReceiver) -> None:
    signed_receiver.hang_next(2, seconds=10)
    answer = caller_for(signed_receiver.url).call(make_hook(retries=1, timeout="1s"), CALL)
    assert answer.outcome == "failed"
    assert "timed out" in answer.detail


def test_an_unresolvable_url_is_failed() -> None:
    caller = HttpHookCaller(resolver=EnvSecretResolver({}))
    answer = caller.call(make_hook(), CALL)
    assert answer.outcome == "failed"
    assert "HOOK_URL" in answer.detail


def test_load_nudges_return_at_once_and_one_is_in_flight_per_hook(
    signed_receiver: WebhookReceiver,
) -> None:
    signed_receiver.hang_next(1, seconds=30)
    caller = caller_for(signed_receiver.url)
    load = make_hook(HookKind.LOAD, name="traffic", timeout="20s", retries=0)
    try:
        started = time.monotonic()
        for _ in range(5):
            caller.nudge(load, CALL)
        returned_in = time.monotonic() - started
        signed_receiver.wait_for(1)
        assert returned_in < 5.0  # the first call hangs for 30 s; nudging never waits on it
        other = make_hook(HookKind.LOAD, name="other-load", retries=0)
        caller.nudge(other, CALL)
        received = signed_receiver.wait_for(2)
        assert [r.json["name"] for r in received] == ["traffic", "other-load"]
    finally:
        signed_receiver.stop()  # releases the hung request
        caller.close()
