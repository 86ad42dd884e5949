"""From an AlertTarget to a notifier: URL and signing-secret resolution, and event filters.

Input: targets whose URL comes from an environment variable, a Secret key or an inline
value, and the env-only and in-memory resolvers. Output: the notifier built (proved by
sending to a real receiver), or the NotifyConfigError that names what is missing without
ever containing a resolved value.
"""

from __future__ import annotations

from typing import Any

import pytest

from rollout.errors import NotifyConfigError
from rollout.events import Notification
from rollout.notify.discord import DiscordNotifier
from rollout.notify.factory import EnvSecretResolver, build_notifier, wants
from rollout.notify.slack import SlackNotifier
from rollout.notify.teams import TeamsNotifier
from rollout.notify.webhook import GenericWebhookNotifier, verify_signature
from rollout.ports import SecretResolver
from rollout.spec.alerts import AlertEvent, AlertTarget
from rollout_local.receiver import WebhookReceiver
from tests.notify.samples import FAST_POLICY, make_notification
from tests.notify.secrets import InMemorySecretResolver


def target(**fields: Any) -> AlertTarget:
    return AlertTarget.model_validate({"name": "ops", "type": "slack", **fields})


def test_env_resolver_builds_a_working_notifier(
    receiver: WebhookReceiver, secret_url: str, notification: Notification
) -> None:
    resolver = EnvSecretResolver({"SLACK_URL": secret_url})

    notifier = build_notifier(
        target(url={"env": "SLACK_URL"}), namespace="shop", resolver=resolver, policy=FAST_POLICY
    )
    notifier.send(notification)

    assert isinstance(notifier, SlackNotifier)
    assert receiver.wait_for(1)[0].json["attachments"][0]["color"] == "danger"


@pytest.mark.parametrize(
    ("kind", "cls"),
    [
        ("slack", SlackNotifier),
        ("teams", TeamsNotifier),
        ("discord", DiscordNotifier),
        ("webhook", GenericWebhookNotifier),
    ],
)
def test_each_type_gets_its_notifier(kind: str, cls: type) -> None:
    resolver = EnvSecretResolver({"URL": "https://example.invalid/hook"})

    notifier = build_notifier(
        target(type=kind, url={"env": "URL"}), namespace="shop", resolver=resolver
    )

    assert isinstance(notifier, cls)
    assert notifier.target == "ops"


def test_a_missing_env_variable_is_named() -> None:
    with pytest.raises(NotifyConfigError, match="'ops': url: environment variable 'NOPE'"):
        build_notifier(
            target(url={"env": "NOPE"}), namespace="shop", resolver=EnvSecretResolver({})
        )


def test_the_env_resolver_cannot_read_secrets() -> None:
    with pytest.raises(NotifyConfigError, match=r"Secret shop/hooks key 'slack'.*cluster"):
        build_notifier(
            target(url={"secretRef": {"name": "hooks", "key": "slack"}}),
            namespace="shop",
            resolver=EnvSecretResolver({}),
        )


def test_in_memory_secrets_resolve_in_the_rollout_namespace_or_the_given_one() -> None:
    resolver = InMemorySecretResolver(secrets={("shop", "hooks"): {"url": "https://a/1"}})
    resolver.put(namespace="alerts", name="hooks", key="url", value="https://b/2")
    here = target(url={"secretRef": {"name": "hooks"}}).url
    there = target(url={"secretRef": {"name": "hooks", "namespace": "alerts"}}).url

    assert resolver.resolve(here, namespace="shop") == "https://a/1"
    assert resolver.resolve(there, namespace="shop") == "https://b/2"
    with pytest.raises(NotifyConfigError, match="Secret other/hooks does not exist"):
        resolver.resolve(here, namespace="other")
    missing_key = target(url={"secretRef": {"name": "hooks", "key": "teams"}}).url
    with pytest.raises(NotifyConfigError, match="has no key 'teams'") as caught:
        resolver.resolve(missing_key, namespace="shop")
    assert "https://a/1" not in str(caught.value)


def test_inline_urls_resolve_when_allowed() -> None:
    inline = target(url={"value": "https://example.invalid/x"}, allowInlineUrl=True)
    resolvers: list[SecretResolver] = [EnvSecretResolver({}), InMemorySecretResolver()]

    for resolver in resolvers:
        assert resolver.resolve(inline.url, namespace="shop") == "https://example.invalid/x"


def test_a_secret_with_a_trailing_newline_still_works(
    receiver: WebhookReceiver, secret_url: str, notification: Notification
) -> None:
    resolver = InMemorySecretResolver(
        secrets={("shop", "hooks"): {"url": secret_url + "\n", "hmac": "k3y\n"}}
    )
    webhook = target(
        type="webhook",
        url={"secretRef": {"name": "hooks"}},
        signingSecret={"secretRef": {"name": "hooks", "key": "hmac"}},
    )

    build_notifier(webhook, namespace="shop", resolver=resolver, policy=FAST_POLICY).send(
        notification
    )

    [request] = receiver.received
    assert verify_signature(request.body, request.header("X-Rollout-Signature-256"), "k3y")


def test_an_unresolvable_signing_secret_is_named() -> None:
    resolver = InMemorySecretResolver(environ={"URL": "https://example.invalid/x"})
    webhook = target(type="webhook", url={"env": "URL"}, signingSecret={"env": "HMAC_KEY"})

    with pytest.raises(NotifyConfigError, match="signingSecret: environment variable 'HMAC_KEY'"):
        build_notifier(webhook, namespace="shop", resolver=resolver)


def test_a_non_http_url_is_a_config_error() -> None:
    resolver = EnvSecretResolver({"URL": "file:///etc/passwd"})

    with pytest.raises(NotifyConfigError, match="not an http"):
        build_notifier(target(url={"env": "URL"}), namespace="shop", resolver=resolver)


def test_targets_get_only_the_events_they_subscribed_to() -> None:
    default = target(url={"env": "URL"})
    promotions_only = target(url={"env": "URL"}, events=["promoted"])

    assert wants(default, make_notification(event=AlertEvent.ROLLED_BACK))
    assert not wants(default, make_notification(event=AlertEvent.STEP_ADVANCED))
    assert wants(promotions_only, make_notification(event=AlertEvent.PROMOTED))
    assert not wants(promotions_only, make_notification(event=AlertEvent.ROLLED_BACK))
