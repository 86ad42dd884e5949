"""Slack incoming webhooks: a message with a ``text`` fallback and one coloured attachment.

Slack documents secondary attachments as legacy but not deprecated; they are still the only
way to get the coloured side bar (``good``/``warning``/``danger``) on an incoming-webhook
message, and their ``fields`` table is exactly the facts we show. The top-level ``text`` is
what notifications and screen readers use. Block Kit would need the same facts re-laid as
``section`` blocks and would lose the colour, so we keep the attachment.
"""

from __future__ import annotations

from typing import Any

from rollout.events import Notification
from rollout.notify import content
from rollout.notify.notifier import PayloadNotifier

__all__ = ["SlackNotifier", "slack_payload"]

_FOOTER = "rollout-controller"


def slack_payload(notification: Notification) -> dict[str, Any]:
    """The JSON body Slack's incoming webhook accepts for ``notification``."""
    n = notification
    title = content.headline(n)
    fallback = f"{title}. {n.summary}" if n.summary else title
    long_fields = {content.check_title(e) for e in content.reported_checks(n)}
    fields = [
        {"title": label, "value": value, "short": label not in long_fields}
        for label, value in content.facts(n)
    ]
    attachment: dict[str, Any] = {
        "fallback": fallback,
        "color": content.Severity.of(n.event).slack_color,
        "title": title,
        "text": n.summary,
        "fields": fields,
        "footer": _FOOTER,
    }
    if n.at:
        attachment["ts"] = int(n.at)
    return {"text": fallback, "attachments": [attachment]}


class SlackNotifier(PayloadNotifier):
    """Posts to one Slack incoming webhook."""

    payload = staticmethod(slack_payload)
