"""Discord webhooks: ``content`` for the notification line, one embed with the facts.

Discord wants the embed colour as an integer and enforces limits (content 2,000 characters,
title 256, description 4,096, 25 fields, field name 256 and value 1,024), so text is clipped
here rather than rejected there with a 400. ``allowed_mentions`` is empty: a commit author
or a check message must never ping ``@everyone``.
"""

from __future__ import annotations

import datetime
from typing import Any

from rollout.events import Notification
from rollout.notify import content
from rollout.notify.notifier import PayloadNotifier

__all__ = ["DiscordNotifier", "discord_payload"]

_CONTENT_LIMIT = 2000
_TITLE_LIMIT = 256
_DESCRIPTION_LIMIT = 4096
_FIELD_LIMIT = 25
_FIELD_NAME_LIMIT = 256
_FIELD_VALUE_LIMIT = 1024


def discord_payload(notification: Notification) -> dict[str, Any]:
    """The JSON body Discord's execute-webhook endpoint accepts for ``notification``."""
    n = notification
    title = content.headline(n)
    long_fields = {content.check_title(e) for e in content.reported_checks(n)}
    fields = [
        {
            "name": content.clip(label, _FIELD_NAME_LIMIT),
            "value": content.clip(value, _FIELD_VALUE_LIMIT),
            "inline": label not in long_fields,
        }
        for label, value in content.facts(n)[:_FIELD_LIMIT]
    ]
    embed: dict[str, Any] = {
        "title": content.clip(title, _TITLE_LIMIT),
        "description": content.clip(n.summary, _DESCRIPTION_LIMIT),
        "color": content.Severity.of(n.event).rgb,
        "fields": fields,
        "footer": {"text": "rollout-controller"},
    }
    if n.at:
        embed["timestamp"] = datetime.datetime.fromtimestamp(n.at, tz=datetime.UTC).isoformat()
    return {
        "content": content.clip(title, _CONTENT_LIMIT),
        "embeds": [embed],
        "allowed_mentions": {"parse": []},
    }


class DiscordNotifier(PayloadNotifier):
    """Posts to one Discord webhook."""

    payload = staticmethod(discord_payload)
