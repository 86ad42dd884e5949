"""Sending a planned, guarded JSON patch to one route object, and winning a race politely.

Both routers work the same way on their objects (VirtualServices, HTTPRoutes): plan a JSON
patch from the object as read, touching only the router's own paths, each guarded by a
``test`` op, the whole patch by ``/metadata/resourceVersion``; send it; and when another
writer got there first (422 from a ``test`` op, or 409) read the object again and plan
again. The retry is bounded twice, by a number of attempts and by a deadline, with a
jittered exponential backoff so two controllers racing on one object do not retry in step.
Only the planning and the reading differ between the routers; they are passed in.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from rollout.errors import Conflict, TrafficConfigError
from rollout.kubeapi import errors

__all__ = ["Plan", "RetryPolicy", "send_guarded"]

log = logging.getLogger("rollout.mesh")

JsonObject = dict[str, Any]


class Plan(Protocol):
    """A planned patch: the operations to send (none: already in place), or problems."""

    @property
    def operations(self) -> Sequence[JsonObject]: ...

    @property
    def problems(self) -> Sequence[str]: ...


@dataclasses.dataclass
class RetryPolicy:
    """How long a router keeps re-planning against a writer that keeps moving the object."""

    max_attempts: int = 20
    deadline: float = 15.0
    """Seconds from the first attempt after which a conflict is given up."""
    sleep: Callable[[float], None] = time.sleep
    jitter: random.Random = dataclasses.field(default_factory=random.Random)
    conflicts_seen: int = 0

    def backoff(self, attempt: int) -> float:
        return self.jitter.uniform(0.0, min(0.5, 0.01 * 2**attempt))


def send_guarded(
    *,
    label: str,
    current: JsonObject,
    plan: Callable[[JsonObject], Plan],
    send: Callable[[list[JsonObject]], object],
    reread: Callable[[], JsonObject],
    retry: RetryPolicy,
) -> bool:
    """Plan ``current`` and send the patch; on a conflict re-read, re-plan and send again.

    ``label`` names the object in errors ("VirtualService shop/checkout"). True when a
    patch was sent, False when the object already carried the plan. Problems in the plan
    raise ``TrafficConfigError`` with nothing sent; a conflict past the attempts or the
    deadline raises ``Conflict``.
    """
    deadline = time.monotonic() + retry.deadline
    attempt = 0
    while True:
        planned = plan(current)
        if planned.problems:
            raise TrafficConfigError([f"{label} {problem}" for problem in planned.problems])
        if not planned.operations:
            return False
        try:
            with errors.translated(f"patching {label}"):
                send(list(planned.operations))
            return True
        except Conflict as error:
            attempt += 1
            retry.conflicts_seen += 1
            if attempt >= retry.max_attempts or time.monotonic() >= deadline:
                raise Conflict(
                    f"{label} kept changing while its weights were set "
                    f"({attempt} attempts): {error}"
                ) from error
            log.debug("%s moved under our patch (attempt %d), re-reading", label, attempt)
            retry.sleep(retry.backoff(attempt))
            current = reread()
