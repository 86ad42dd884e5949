"""Hooks: the outside systems a rollout asks before it moves, and tells after it has.

Part of the ``Rollout`` spec (``spec.hooks``). Each hook is one HTTP receiver called with a
signed JSON body at one point of the rollout:

- ``pre-rollout``: the canary is ready, before any traffic goes to it;
- ``confirm-step``: before each raise of the canary weight;
- ``confirm-promotion``: before the canary becomes stable;
- ``post-promotion``: after it has;
- ``rollback``: after a rollback (or a failure) put all traffic back on stable;
- ``load``: at each tick while a step waits for evidence, so a quiet service can make some
  traffic for the canary to be judged on.

The first three are gates: an answer other than 2xx, a timeout or an unreachable receiver
holds the rollout where it is (the tick after asks again). The others are told and not
waited on: a failed call is reported (an Event and a ``hookFailed`` alert). Pure data.
"""

from __future__ import annotations

import enum

from pydantic import Field

from rollout.spec.alerts import Endpoint
from rollout.spec.base import DnsLabel, Duration

__all__ = ["GATES", "Hook", "HookKind"]


class HookKind(enum.StrEnum):
    """When a hook is called."""

    PRE_ROLLOUT = "pre-rollout"
    CONFIRM_STEP = "confirm-step"
    CONFIRM_PROMOTION = "confirm-promotion"
    POST_PROMOTION = "post-promotion"
    ROLLBACK = "rollback"
    LOAD = "load"

    @property
    def gate(self) -> bool:
        """Whether the rollout waits for this hook's yes before it moves."""
        return self in GATES

    @property
    def when(self) -> str:
        """When it is called, in words for ``rollout plan``."""
        return _WHEN[self]


GATES = frozenset({HookKind.PRE_ROLLOUT, HookKind.CONFIRM_STEP, HookKind.CONFIRM_PROMOTION})

_WHEN = {
    HookKind.PRE_ROLLOUT: "before any traffic goes to the canary",
    HookKind.CONFIRM_STEP: "before each raise of the canary weight",
    HookKind.CONFIRM_PROMOTION: "before the canary is promoted",
    HookKind.POST_PROMOTION: "after a promotion",
    HookKind.ROLLBACK: "after a rollback or failure",
    HookKind.LOAD: "at each tick while a step waits for evidence",
}


class Hook(Endpoint):
    """One HTTP call at one point of the rollout, signed when ``signingSecret`` is given."""

    name: DnsLabel
    type: HookKind
    timeout: Duration = Field("5s", description="How long one attempt may take.")
    retries: int = Field(
        2,
        ge=0,
        le=5,
        description=(
            "Attempts after the first on a timeout, a connection error, 429 or 5xx; "
            "another 4xx is an answer (no) and is not retried."
        ),
    )
