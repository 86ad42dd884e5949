"""From an ``AlertTarget`` in a spec to a working ``Notifier``.

The spec never holds a webhook URL in clear unless the user insisted (``allowInlineUrl``):
it names an environment variable or a Kubernetes Secret key. A
``rollout.ports.SecretResolver`` turns that ``UrlSource`` into the string. This module
ships the resolver for environment variables (and inline values) and an in-memory one for
tests and the demo; the Kubernetes adapter provides the one that reads Secrets. Resolution
may do I/O, so the dispatcher calls ``build_notifier`` on its worker threads, never on the
caller's.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from rollout.errors import NotifyConfigError
from rollout.events import Notification
from rollout.notify.discord import DiscordNotifier
from rollout.notify.notifier import DEFAULT_POLICY, JsonPoster, Notifier, RetryPolicy
from rollout.notify.slack import SlackNotifier
from rollout.notify.teams import TeamsNotifier
from rollout.notify.webhook import GenericWebhookNotifier
from rollout.ports import SecretResolver
from rollout.spec.alerts import AlertTarget, Endpoint, UrlSource

__all__ = [
    "EnvSecretResolver",
    "build_notifier",
    "resolve_signing_key",
    "resolve_url",
    "wants",
]


class EnvSecretResolver:
    """Environment variables and inline values; Secret references need the cluster."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    def resolve(self, source: UrlSource, *, namespace: str) -> str:
        if source.value is not None:
            return source.value
        if source.env is not None:
            value = self._environ.get(source.env)
            if not value:
                raise NotifyConfigError(f"environment variable {source.env!r} is not set")
            return value
        ref = source.secret_ref
        assert ref is not None  # UrlSource holds exactly one of the three
        raise NotifyConfigError(
            f"Secret {ref.namespace or namespace}/{ref.name} key {ref.key!r} cannot be read "
            "without a cluster resolver"
        )


def wants(target: AlertTarget, notification: Notification) -> bool:
    """True when ``target`` subscribed to the notification's event."""
    return notification.event in target.events


def build_notifier(
    target: AlertTarget,
    *,
    namespace: str,
    resolver: SecretResolver,
    policy: RetryPolicy = DEFAULT_POLICY,
) -> Notifier:
    """The notifier for ``target``, its URL (and signing secret) resolved in ``namespace``.

    Resolved values are stripped: a Secret made with ``echo`` ends in a newline.

    Raises ``NotifyConfigError`` when a source cannot be resolved or the URL is not http(s).
    """
    what = f"alert target {target.name!r}"
    url = resolve_url(target, what=what, namespace=namespace, resolver=resolver)
    poster = JsonPoster(target=target.name, url=url, policy=policy)
    if target.type == "slack":
        return SlackNotifier(poster=poster)
    if target.type == "teams":
        return TeamsNotifier(poster=poster)
    if target.type == "discord":
        return DiscordNotifier(poster=poster)
    secret = resolve_signing_key(target, what=what, namespace=namespace, resolver=resolver)
    return GenericWebhookNotifier(poster=poster, signing_secret=secret)


def resolve_url(endpoint: Endpoint, *, what: str, namespace: str, resolver: SecretResolver) -> str:
    """The endpoint's URL, stripped; ``NotifyConfigError`` naming ``what`` when it cannot be
    resolved."""
    try:
        return resolver.resolve(endpoint.url, namespace=namespace).strip()
    except NotifyConfigError as error:
        raise NotifyConfigError(f"{what}: url: {error}") from None


def resolve_signing_key(
    endpoint: Endpoint, *, what: str, namespace: str, resolver: SecretResolver
) -> str | None:
    """The endpoint's signing key, stripped (None when it has none)."""
    if endpoint.signing_secret is None:
        return None
    try:
        return resolver.resolve(endpoint.signing_secret, namespace=namespace).strip()
    except NotifyConfigError as error:
        raise NotifyConfigError(f"{what}: signingSecret: {error}") from None
