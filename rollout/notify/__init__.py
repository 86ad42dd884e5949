"""Notifiers: tell people what a rollout did (Slack, Teams, Discord, generic webhook).

One module per concern: ``notifier`` (the protocol and the HTTP delivery with retries),
``content`` (what every alert says), ``slack``, ``teams``, ``discord`` and ``webhook`` (one
payload each), ``factory`` (from an ``AlertTarget`` to a notifier, with secret resolution)
and ``dispatch`` (fan-out off the caller's thread, dedupe per revision).
"""

from __future__ import annotations

from rollout.notify.dispatch import AlertDispatcher, AlertResult, Dispatch, alert_key
from rollout.notify.factory import (
    EnvSecretResolver,
    build_notifier,
    wants,
)
from rollout.notify.notifier import DEFAULT_POLICY, Notifier, RetryPolicy

__all__ = [
    "DEFAULT_POLICY",
    "AlertDispatcher",
    "AlertResult",
    "Dispatch",
    "EnvSecretResolver",
    "Notifier",
    "RetryPolicy",
    "alert_key",
    "build_notifier",
    "wants",
]
