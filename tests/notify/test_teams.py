"""The Teams notifier: an Adaptive Card in the Workflows webhook envelope.

Input: a rolled-back notification. Output: the exact JSON a real receiver got: a
``message`` with one adaptive-card attachment, a header styled by severity, the summary,
and a FactSet with the failed check's numbers.
"""

from __future__ import annotations

from rollout.events import Notification
from rollout.notify.notifier import JsonPoster
from rollout.notify.teams import TeamsNotifier, teams_payload
from rollout.spec.alerts import AlertEvent
from rollout_local.receiver import WebhookReceiver
from tests.notify.samples import FAST_POLICY, make_notification

HEADLINE = "Rollout shop/checkout: v2 rolled back, traffic back on v1"


def test_teams_posts_the_exact_payload(
    receiver: WebhookReceiver, secret_url: str, notification: Notification
) -> None:
    notifier = TeamsNotifier(poster=JsonPoster(target="ops", url=secret_url, policy=FAST_POLICY))

    notifier.send(notification)

    [request] = receiver.received
    assert request.json == {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "fallbackText": "Rollout shop/checkout: v2 rolled back, traffic back on v1. "
                    "rolled back at step 2: error ratio 5.2% is above 1%",
                    "msteams": {"width": "Full"},
                    "body": [
                        {
                            "type": "Container",
                            "style": "attention",
                            "bleed": True,
                            "items": [
                                {
                                    "type": "TextBlock",
                                    "text": HEADLINE,
                                    "weight": "Bolder",
                                    "size": "Medium",
                                    "color": "attention",
                                    "wrap": True,
                                }
                            ],
                        },
                        {
                            "type": "TextBlock",
                            "text": "rolled back at step 2: error ratio 5.2% is above 1%",
                            "wrap": True,
                        },
                        {
                            "type": "FactSet",
                            "facts": [
                                {"title": "Rollout", "value": "checkout"},
                                {"title": "Namespace", "value": "shop"},
                                {"title": "From version", "value": "v1"},
                                {"title": "To version", "value": "v2"},
                                {"title": "Step", "value": "2"},
                                {"title": "Weight", "value": "20%"},
                                {
                                    "title": "Failed check: istio-error-ratio/error-ratio",
                                    "value": "value 0.052 against threshold 0.01 (stable 0.002,"
                                    " n=1200, p=0.0003): error ratio 5.2% is above 1%",
                                },
                                {"title": "Commit", "value": "3f2c1a9d8e7b"},
                                {"title": "Author", "value": "Ada Lovelace"},
                            ],
                        },
                    ],
                },
            }
        ],
    }


def test_promoted_is_styled_good() -> None:
    card = teams_payload(make_notification(event=AlertEvent.PROMOTED))["attachments"][0]
    header = card["content"]["body"][0]

    assert header["style"] == "good"
    assert header["items"][0]["text"] == "Rollout shop/checkout: v2 promoted, replacing v1"
