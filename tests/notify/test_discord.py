"""The Discord notifier: ``content`` plus one embed with an integer colour and fields.

Input: notifications of several events and sizes. Output: the JSON a real receiver got,
with Discord's limits respected and mentions disabled.
"""

from __future__ import annotations

import dataclasses

from rollout.events import Notification
from rollout.notify.discord import DiscordNotifier, discord_payload
from rollout.notify.notifier import JsonPoster
from rollout.spec.alerts import AlertEvent
from rollout_local.receiver import WebhookReceiver
from tests.notify.samples import FAST_POLICY, make_notification


def test_discord_posts_the_exact_payload(
    receiver: WebhookReceiver, secret_url: str, notification: Notification
) -> None:
    notifier = DiscordNotifier(poster=JsonPoster(target="ops", url=secret_url, policy=FAST_POLICY))

    notifier.send(notification)

    [request] = receiver.received
    assert request.json == {
        "content": "Rollout shop/checkout: v2 rolled back, traffic back on v1",
        "embeds": [
            {
                "title": "Rollout shop/checkout: v2 rolled back, traffic back on v1",
                "description": "rolled back at step 2: error ratio 5.2% is above 1%",
                "color": 0xA30200,
                "fields": [
                    {"name": "Rollout", "value": "checkout", "inline": True},
                    {"name": "Namespace", "value": "shop", "inline": True},
                    {"name": "From version", "value": "v1", "inline": True},
                    {"name": "To version", "value": "v2", "inline": True},
                    {"name": "Step", "value": "2", "inline": True},
                    {"name": "Weight", "value": "20%", "inline": True},
                    {
                        "name": "Failed check: istio-error-ratio/error-ratio",
                        "value": "value 0.052 against threshold 0.01 "
                        "(stable 0.002, n=1200, p=0.0003): error ratio 5.2% is above 1%",
                        "inline": False,
                    },
                    {"name": "Commit", "value": "3f2c1a9d8e7b", "inline": True},
                    {"name": "Author", "value": "Ada Lovelace", "inline": True},
                ],
                "footer": {"text": "rollout-controller"},
                "timestamp": "2026-01-01T00:00:00+00:00",
            }
        ],
        "allowed_mentions": {"parse": []},
    }


def test_colors_are_integers_per_event() -> None:
    promoted = discord_payload(make_notification(event=AlertEvent.PROMOTED))
    paused = discord_payload(make_notification(event=AlertEvent.PAUSED))

    assert promoted["embeds"][0]["color"] == 0x2EB886
    assert paused["embeds"][0]["color"] == 0xDAA038


def test_long_text_is_clipped_to_discord_limits() -> None:
    long = dataclasses.replace(make_notification(), summary="x" * 5000, author="a" * 2000)

    embed = discord_payload(long)["embeds"][0]

    assert len(embed["description"]) == 4096 and embed["description"].endswith("…")
    author = next(field for field in embed["fields"] if field["name"] == "Author")
    assert len(author["value"]) == 1024
