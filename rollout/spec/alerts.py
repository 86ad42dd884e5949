"""Where a rollout's alerts go: the targets, the events each wants, and where a webhook's
URL and signing key come from (a Secret, an environment variable, or inline with consent).

Part of the ``Rollout`` spec (``rollout.spec.rollout`` re-exports these names), kept apart
because the notifiers and the alert dispatcher need only this piece of it.
"""

from __future__ import annotations

import enum
from typing import Literal

from pydantic import Field, model_validator

from rollout.spec.base import DnsLabel, DnsSubdomain, SpecModel

__all__ = [
    "AlertEvent",
    "AlertTarget",
    "Endpoint",
    "SecretKeyRef",
    "SigningKeySource",
    "UrlSource",
]


class AlertEvent(enum.StrEnum):
    STARTED = "started"
    STEP_ADVANCED = "stepAdvanced"
    PAUSED = "paused"
    PROMOTED = "promoted"
    ROLLED_BACK = "rolledBack"
    FAILED = "failed"
    INCONCLUSIVE = "inconclusive"
    SPEC_INVALID = "specInvalid"
    HOOK_FAILED = "hookFailed"


class SecretKeyRef(SpecModel):
    name: DnsSubdomain
    key: str = "url"
    namespace: DnsLabel | None = None


class UrlSource(SpecModel):
    """Where a webhook URL comes from: a Secret key or an environment variable."""

    secret_ref: SecretKeyRef | None = None
    env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    value: str | None = Field(
        None, description="Inline URL; refused unless allowInlineUrl is set on the target."
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> UrlSource:
        given = [n for n in ("secret_ref", "env", "value") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of secretRef, env or value")
        return self


class SigningKeySource(UrlSource):
    """Where a webhook's signing key comes from: a Secret key, an environment variable or
    (discouraged) the spec itself."""

    value: str | None = Field(
        None,
        description="Inline signing key: readable by anyone who can read the spec; "
        "prefer secretRef or env.",
    )


class Endpoint(SpecModel):
    """An HTTP receiver the controller posts to: its URL and the key that signs the body.

    Alert targets and hooks share it, and the rule that an inline URL needs consent."""

    url: UrlSource
    allow_inline_url: bool = False
    signing_secret: SigningKeySource | None = Field(
        None, description="HMAC-SHA256 key for the X-Rollout-Signature-256 header."
    )

    @model_validator(mode="after")
    def _inline_needs_consent(self) -> Endpoint:
        if self.url.value is not None and not self.allow_inline_url:
            raise ValueError(
                "an inline url puts a secret in Git: use secretRef or env, "
                "or set allowInlineUrl: true"
            )
        return self


class AlertTarget(Endpoint):
    """One place alerts go to, and which events it wants."""

    name: DnsLabel
    type: Literal["slack", "teams", "discord", "webhook"]
    events: list[AlertEvent] = Field(
        default_factory=lambda: [
            AlertEvent.STARTED,
            AlertEvent.PROMOTED,
            AlertEvent.ROLLED_BACK,
            AlertEvent.FAILED,
            AlertEvent.PAUSED,
            AlertEvent.SPEC_INVALID,
            AlertEvent.HOOK_FAILED,
        ]
    )
