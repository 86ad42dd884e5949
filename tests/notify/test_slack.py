"""The Slack notifier: the exact incoming-webhook body that reaches a real receiver.

Input: a rolled-back notification with one failed and one passing check. Output: the JSON
the receiver got: ``text`` fallback, one attachment coloured by event, the facts as fields,
the failed check with value, threshold, stable value, sample size and p-value.
"""

from __future__ import annotations

import pytest

from rollout.events import Notification
from rollout.notify.notifier import JsonPoster
from rollout.notify.slack import SlackNotifier, slack_payload
from rollout.spec.alerts import AlertEvent
from rollout_local.receiver import WebhookReceiver
from tests.notify.samples import FAST_POLICY, make_notification

FALLBACK = (
    "Rollout shop/checkout: v2 rolled back, traffic back on v1. "
    "rolled back at step 2: error ratio 5.2% is above 1%"
)


def test_slack_posts_the_exact_payload(
    receiver: WebhookReceiver, secret_url: str, notification: Notification
) -> None:
    notifier = SlackNotifier(poster=JsonPoster(target="ops", url=secret_url, policy=FAST_POLICY))

    notifier.send(notification)

    [request] = receiver.received
    assert request.json == {
        "text": FALLBACK,
        "attachments": [
            {
                "fallback": FALLBACK,
                "color": "danger",
                "title": "Rollout shop/checkout: v2 rolled back, traffic back on v1",
                "text": "rolled back at step 2: error ratio 5.2% is above 1%",
                "fields": [
                    {"title": "Rollout", "value": "checkout", "short": True},
                    {"title": "Namespace", "value": "shop", "short": True},
                    {"title": "From version", "value": "v1", "short": True},
                    {"title": "To version", "value": "v2", "short": True},
                    {"title": "Step", "value": "2", "short": True},
                    {"title": "Weight", "value": "20%", "short": True},
                    {
                        "title": "Failed check: istio-error-ratio/error-ratio",
                        "value": "value 0.052 against threshold 0.01 "
                        "(stable 0.002, n=1200, p=0.0003): error ratio 5.2% is above 1%",
                        "short": False,
                    },
                    {"title": "Commit", "value": "3f2c1a9d8e7b", "short": True},
                    {"title": "Author", "value": "Ada Lovelace", "short": True},
                ],
                "footer": "rollout-controller",
                "ts": 1767225600,
            }
        ],
    }
    assert notifier.target == "ops"


@pytest.mark.parametrize(
    ("event", "color"),
    [
        (AlertEvent.STARTED, "good"),
        (AlertEvent.STEP_ADVANCED, "good"),
        (AlertEvent.PROMOTED, "good"),
        (AlertEvent.PAUSED, "warning"),
        (AlertEvent.INCONCLUSIVE, "warning"),
        (AlertEvent.ROLLED_BACK, "danger"),
        (AlertEvent.FAILED, "danger"),
    ],
)
def test_color_follows_the_event(event: AlertEvent, color: str) -> None:
    assert slack_payload(make_notification(event=event))["attachments"][0]["color"] == color


def test_a_first_rollout_without_checks_has_no_check_field() -> None:
    first = Notification(
        event=AlertEvent.STARTED,
        rollout="checkout",
        namespace="shop",
        from_version=None,
        to_version="v1",
        summary="",
    )

    payload = slack_payload(first)

    assert payload["text"] == "Rollout shop/checkout: rolling out v1"
    titles = [field["title"] for field in payload["attachments"][0]["fields"]]
    assert titles == ["Rollout", "Namespace", "From version", "To version"]
    assert "ts" not in payload["attachments"][0]
