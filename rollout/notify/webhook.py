"""The generic JSON webhook: the documented ``RolloutEvent`` body, signed with HMAC-SHA256.

For receivers that are not a chat service (an incident tool, a deploy log, a bot). The body
is ``{"apiVersion": "canary.rollout.dev/v1alpha1", "kind": "RolloutEvent", ...}`` followed by
``Notification.as_dict()``; the headers are:

- ``X-Rollout-Event``: the event name (``rolledBack``, ``promoted``, ...);
- ``X-Rollout-Delivery``: an idempotency id, the SHA-256 of the rollout's namespace/name and
  the notification's dedupe key: the same on every retry and across controller restarts, so
  a receiver can drop duplicates;
- ``X-Rollout-Signature-256``: ``sha256=<hex HMAC-SHA256 of the raw body>`` keyed with the
  target's signing secret (left out when the target has none).

``verify_signature`` is the receiver's side of the check; docs/alerts.md shows it.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from rollout import GROUP_VERSION
from rollout.events import Notification
from rollout.notify.notifier import JsonPoster, encode_json

__all__ = [
    "DELIVERY_HEADER",
    "EVENT_HEADER",
    "EVENT_KIND",
    "SIGNATURE_HEADER",
    "GenericWebhookNotifier",
    "delivery_id",
    "sign",
    "verify_signature",
    "webhook_body",
]

EVENT_KIND = "RolloutEvent"
SIGNATURE_HEADER = "X-Rollout-Signature-256"
EVENT_HEADER = "X-Rollout-Event"
DELIVERY_HEADER = "X-Rollout-Delivery"
_SIGNATURE_PREFIX = "sha256="


def webhook_body(notification: Notification) -> dict[str, Any]:
    """The documented ``RolloutEvent`` document for ``notification``."""
    return {"apiVersion": GROUP_VERSION, "kind": EVENT_KIND, **notification.as_dict()}


def delivery_id(notification: Notification) -> str:
    """Stable per rollout, event and revision: the hex SHA-256 of the identity and dedupe key."""
    n = notification
    identity = f"{n.namespace}/{n.rollout}/{n.dedupe_key}"
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()


def sign(body: bytes, secret: str) -> str:
    """The ``X-Rollout-Signature-256`` value for ``body``."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"{_SIGNATURE_PREFIX}{digest}"


def verify_signature(body: bytes, header: str | None, secret: str) -> bool:
    """True when ``header`` is the signature of the raw ``body`` under ``secret``.

    Compares in constant time; a missing or malformed header is simply not valid.
    """
    if not header or not header.startswith(_SIGNATURE_PREFIX):
        return False
    return hmac.compare_digest(sign(body, secret), header.strip())


class GenericWebhookNotifier:
    """Posts signed ``RolloutEvent`` documents to one URL."""

    def __init__(self, *, poster: JsonPoster, signing_secret: str | None = None) -> None:
        self._poster = poster
        self._secret = signing_secret

    @property
    def target(self) -> str:
        return self._poster.target

    def send(self, notification: Notification) -> None:
        body = encode_json(webhook_body(notification))
        headers = {
            EVENT_HEADER: notification.event.value,
            DELIVERY_HEADER: delivery_id(notification),
        }
        if self._secret:
            headers[SIGNATURE_HEADER] = sign(body, self._secret)
        self._poster.post(body, headers=headers)
