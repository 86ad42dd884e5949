"""Microsoft Teams: an Adaptive Card in the envelope a Teams Workflows webhook accepts.

Microsoft retired the Office 365 connectors of Teams (the "Incoming Webhook" connector and
its ``MessageCard`` with ``themeColor``): new connectors cannot be created and existing ones
stop delivering. The documented replacement is a Workflows (Power Automate) flow, "post to a
channel when a webhook request is received", which takes a Bot Framework style message whose
attachment is an Adaptive Card::

    {"type": "message",
     "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
                      "contentUrl": null, "content": {"type": "AdaptiveCard", ...}}]}

Adaptive Cards have no theme colour; severity is shown by the header container's ``style``
(``good``/``warning``/``attention``) and the headline's colour. The facts go in a
``FactSet``. Card version 1.4 renders on Teams desktop, web and mobile.
"""

from __future__ import annotations

from typing import Any

from rollout.events import Notification
from rollout.notify import content
from rollout.notify.notifier import PayloadNotifier

__all__ = ["ADAPTIVE_CARD", "TeamsNotifier", "teams_payload"]

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
_CARD_VERSION = "1.4"

_STYLE = {
    content.Severity.GOOD: "good",
    content.Severity.WARNING: "warning",
    content.Severity.DANGER: "attention",
}


def adaptive_card(notification: Notification) -> dict[str, Any]:
    """The Adaptive Card alone, without the Workflows envelope."""
    n = notification
    title = content.headline(n)
    style = _STYLE[content.Severity.of(n.event)]
    body: list[dict[str, Any]] = [
        {
            "type": "Container",
            "style": style,
            "bleed": True,
            "items": [
                {
                    "type": "TextBlock",
                    "text": title,
                    "weight": "Bolder",
                    "size": "Medium",
                    "color": style,
                    "wrap": True,
                }
            ],
        }
    ]
    if n.summary:
        body.append({"type": "TextBlock", "text": n.summary, "wrap": True})
    body.append(
        {
            "type": "FactSet",
            "facts": [{"title": label, "value": value} for label, value in content.facts(n)],
        }
    )
    return {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": _CARD_VERSION,
        "fallbackText": f"{title}. {n.summary}" if n.summary else title,
        "msteams": {"width": "Full"},
        "body": body,
    }


def teams_payload(notification: Notification) -> dict[str, Any]:
    """The JSON body a Teams Workflows webhook accepts for ``notification``."""
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": ADAPTIVE_CARD,
                "contentUrl": None,
                "content": adaptive_card(notification),
            }
        ],
    }


class TeamsNotifier(PayloadNotifier):
    """Posts to one Teams Workflows webhook."""

    payload = staticmethod(teams_payload)
