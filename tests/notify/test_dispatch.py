"""AlertDispatcher: fan-out to targets off the caller's thread, dedupe, filtering, isolation.

Input: notifications, targets pointing at real local receivers (healthy, failing, hanging or
closed), and the set of keys already sent. Output: the returned Dispatch (keys to persist,
what was queued, skipped or dropped), the per-target AlertResults, the dispatcher's counts,
what each receiver got, and how long ``dispatch`` took on the caller's thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from rollout.errors import NotifyUnavailable
from rollout.notify.dispatch import AlertDispatcher, AlertResult, alert_key
from rollout.notify.notifier import RetryPolicy
from rollout.spec.alerts import AlertEvent, AlertTarget
from rollout_local.receiver import WebhookReceiver
from tests.notify.samples import SECRET_PATH, make_notification
from tests.notify.secrets import InMemorySecretResolver

POLICY = RetryPolicy(
    max_attempts=2, attempt_timeout=0.5, deadline=1.5, backoff_base=0.01, backoff_cap=0.05
)


def target(name: str, env: str, **fields: Any) -> AlertTarget:
    return AlertTarget.model_validate(
        {"name": name, "type": "webhook", "url": {"env": env}, **fields}
    )


@pytest.fixture
def second_receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as running:
        yield running


@pytest.fixture
def results() -> list[AlertResult]:
    return []


@pytest.fixture
def dispatcher(
    receiver: WebhookReceiver, second_receiver: WebhookReceiver, results: list[AlertResult]
) -> Iterator[AlertDispatcher]:
    resolver = InMemorySecretResolver(
        environ={
            "A_URL": f"{receiver.url}{SECRET_PATH}",
            "B_URL": f"{second_receiver.url}/b",
            "BAD_URL": "http://127.0.0.1:1/closed",
        }
    )
    with AlertDispatcher(
        resolver=resolver, policy=POLICY, workers=2, on_result=results.append
    ) as running:
        yield running


def test_sends_to_every_target_and_returns_the_keys(
    dispatcher: AlertDispatcher, receiver: WebhookReceiver, second_receiver: WebhookReceiver
) -> None:
    notification = make_notification()
    targets = [target("a", "A_URL"), target("b", "B_URL")]

    dispatch = dispatcher.dispatch(notification, targets, sent_keys={"old:key"})
    outcomes = dispatch.wait(timeout=5.0)

    assert dispatch.queued == ("a", "b")
    assert dispatch.sent_keys == {
        "old:key",
        alert_key("a", notification),
        alert_key("b", notification),
    }
    assert alert_key("a", notification) == f"a:{notification.dedupe_key}"
    assert [(r.target, r.status, r.event) for r in outcomes] == [
        ("a", "sent", "rolledBack"),
        ("b", "sent", "rolledBack"),
    ]
    assert receiver.wait_for(1)[0].json["kind"] == "RolloutEvent"
    assert second_receiver.wait_for(1)[0].path == "/b"
    assert dispatcher.stats() == {"sent": 2, "failed": 0, "dropped": 0}


def test_the_same_event_twice_sends_one_alert_and_a_new_revision_another(
    dispatcher: AlertDispatcher, receiver: WebhookReceiver
) -> None:
    targets = [target("a", "A_URL")]
    first = dispatcher.dispatch(make_notification(revision="1" * 40), targets)
    first.wait(timeout=5.0)

    again = dispatcher.dispatch(
        make_notification(revision="1" * 40), targets, sent_keys=first.sent_keys
    )
    assert again.queued == () and again.already_sent == ("a",)
    assert again.sent_keys == first.sent_keys

    newer = dispatcher.dispatch(
        make_notification(revision="2" * 40), targets, sent_keys=again.sent_keys
    )
    newer.wait(timeout=5.0)

    assert newer.queued == ("a",)
    assert len(newer.sent_keys) == 2
    time.sleep(0.2)  # nothing else is on its way
    assert [r.json["revision"] for r in receiver.received] == ["1" * 40, "2" * 40]


def test_each_target_gets_only_its_events(
    dispatcher: AlertDispatcher, receiver: WebhookReceiver, second_receiver: WebhookReceiver
) -> None:
    targets = [target("a", "A_URL"), target("b", "B_URL", events=["promoted"])]

    rolled_back = dispatcher.dispatch(make_notification(event=AlertEvent.ROLLED_BACK), targets)
    promoted = dispatcher.dispatch(make_notification(event=AlertEvent.PROMOTED), targets)
    rolled_back.wait(timeout=5.0)
    promoted.wait(timeout=5.0)

    assert rolled_back.not_subscribed == ("b",)
    assert promoted.queued == ("a", "b")
    assert [r.json["event"] for r in second_receiver.received] == ["promoted"]
    assert sorted(r.json["event"] for r in receiver.received) == ["promoted", "rolledBack"]


def test_a_failing_target_does_not_affect_the_others(
    dispatcher: AlertDispatcher, second_receiver: WebhookReceiver, receiver: WebhookReceiver
) -> None:
    receiver.fail_next(1, status=400, body="unknown hook")
    targets = [target("a", "A_URL"), target("dead", "BAD_URL"), target("b", "B_URL")]

    outcomes = dispatcher.dispatch(make_notification(), targets).wait(timeout=5.0)

    by_target = {r.target: r for r in outcomes}
    assert by_target["b"].status == "sent"
    assert by_target["a"].status == "failed" and "HTTP 400: unknown hook" in by_target["a"].reason
    assert by_target["dead"].status == "failed" and "connection failed" in by_target["dead"].reason
    assert len(second_receiver.received) == 1
    assert dispatcher.stats() == {"sent": 1, "failed": 2, "dropped": 0}


def test_a_hanging_webhook_never_blocks_the_caller(
    dispatcher: AlertDispatcher, receiver: WebhookReceiver, second_receiver: WebhookReceiver
) -> None:
    receiver.hang_next(10, seconds=10.0)
    targets = [target("a", "A_URL"), target("b", "B_URL")]

    started = time.monotonic()
    rollback = dispatcher.dispatch(make_notification(), targets)
    returned_after = time.monotonic() - started

    assert returned_after < 0.1
    assert rollback.queued == ("a", "b")
    second_receiver.wait_for(1, timeout=2.0)  # the healthy target is served meanwhile
    outcomes = {r.target: r for r in rollback.wait(timeout=5.0)}
    assert outcomes["b"].status == "sent"
    assert outcomes["a"].status == "failed" and "timed out" in outcomes["a"].reason
    assert outcomes["a"].elapsed <= POLICY.deadline + POLICY.attempt_timeout


def test_a_full_queue_drops_without_claiming_the_key(
    receiver: WebhookReceiver, results: list[AlertResult]
) -> None:
    receiver.hang_next(10, seconds=10.0)
    resolver = InMemorySecretResolver(environ={"A_URL": f"{receiver.url}/a"})
    targets = [target("a", "A_URL", events=["started", "paused", "rolledBack"])]
    with AlertDispatcher(
        resolver=resolver, policy=POLICY, workers=1, max_pending=1, on_result=results.append
    ) as small:
        busy = small.dispatch(make_notification(event=AlertEvent.STARTED), targets)
        receiver.wait_for(1, timeout=2.0)  # the only worker is now stuck on it
        queued = small.dispatch(make_notification(event=AlertEvent.PAUSED), targets)
        started = time.monotonic()
        dropped = small.dispatch(make_notification(event=AlertEvent.ROLLED_BACK), targets)

        assert time.monotonic() - started < 0.1
        assert busy.queued == queued.queued == ("a",)
        assert dropped.dropped == ("a",) and dropped.sent_keys == frozenset()
        [result] = dropped.wait(timeout=0.1)
        assert result.status == "dropped" and "queue full" in result.reason
        receiver.stop()  # release the hanging requests so close() is quick
    assert small.stats()["dropped"] == 1
    assert [r.status for r in results].count("dropped") == 1


def test_a_config_error_is_a_failed_result_with_the_reason(
    dispatcher: AlertDispatcher, results: list[AlertResult]
) -> None:
    [outcome] = dispatcher.dispatch(make_notification(), [target("x", "UNSET")]).wait(5.0)

    assert outcome.status == "failed"
    assert "environment variable 'UNSET' is not set" in outcome.reason
    assert results == [outcome]


def test_close_delivers_what_is_queued(receiver: WebhookReceiver) -> None:
    resolver = InMemorySecretResolver(environ={"A_URL": f"{receiver.url}/a"})
    small = AlertDispatcher(resolver=resolver, policy=POLICY, workers=1)
    pending = [
        small.dispatch(make_notification(revision=str(i) * 40), [target("a", "A_URL")])
        for i in range(3)
    ]

    small.close(timeout=5.0)

    assert all(d.futures[0].done() for d in pending)
    assert len(receiver.received) == 3
    late = small.dispatch(make_notification(revision="9" * 40), [target("a", "A_URL")])
    assert late.dropped == ("a",)


def test_send_is_the_coordinators_alert_sink(
    dispatcher: AlertDispatcher, receiver: WebhookReceiver, results: list[AlertResult]
) -> None:
    dispatcher.send(make_notification(), [target("a", "A_URL"), target("b", "B_URL")])

    assert receiver.wait_for(1)[0].json["event"] == "rolledBack"
    deadline = time.monotonic() + 5.0
    while len(results) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sorted((r.target, r.status) for r in results) == [("a", "sent"), ("b", "sent")]
    dispatcher.close()
    with pytest.raises(NotifyUnavailable, match="dropped for a"):
        dispatcher.send(make_notification(), [target("a", "A_URL")])


def test_no_secret_in_logs_or_results(
    dispatcher: AlertDispatcher, receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver.fail_next(10, status=500)

    [outcome] = dispatcher.dispatch(make_notification(), [target("a", "A_URL")]).wait(5.0)

    assert outcome.status == "failed"
    assert "s3cr3tT0k3nXYZ" not in caplog.text + outcome.reason
    assert "target a (http://127.0.0.1:" in caplog.text


def test_one_targets_alerts_of_one_rollout_arrive_in_the_order_they_happened(
    receiver: WebhookReceiver, second_receiver: WebhookReceiver
) -> None:
    """A slow first delivery must not let the later ones overtake it, with idle workers
    at hand; another target's alerts are not held back by it."""
    resolver = InMemorySecretResolver(
        environ={"A_URL": f"{receiver.url}/a", "B_URL": f"{second_receiver.url}/b"}
    )
    events = ["started", "stepAdvanced", "promoted"]
    targets = [target("a", "A_URL", events=events), target("b", "B_URL", events=events)]
    receiver.hang_next(1, seconds=0.3)  # answered 200 after 0.3 s, within the attempt timeout
    with AlertDispatcher(resolver=resolver, policy=POLICY, workers=4) as dispatcher:
        dispatches = [
            dispatcher.dispatch(make_notification(event=AlertEvent(event)), targets)
            for event in events
        ]
        second_receiver.wait_for(3, timeout=2.0)
        assert len(receiver.received) == 1, "b's alerts went while a's first one hung"
        for dispatch in dispatches:
            assert {r.status for r in dispatch.wait(timeout=5.0)} == {"sent"}
    arrived = [request.json["event"] for request in receiver.received]
    assert arrived == events
