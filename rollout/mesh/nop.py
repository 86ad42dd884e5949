"""The router that moves no traffic (``--router nop``), as Flagger's ``nop.go``.

For a mesh the controller must not touch, or a dry run: the analysis still judges every
step and the alerts still say what happened, but no route is checked, written or read, so
no weight is ever reported as drift.
"""

from __future__ import annotations

from rollout.effects import SetWeights
from rollout.ports import RouteWeights
from rollout.spec.rollout import Rollout

__all__ = ["NopRouter"]


class NopRouter:
    """:class:`rollout.ports.Router` that does nothing and reports no routes."""

    def check(self, rollout: Rollout, stable: str, canary: str | None) -> list[str]:
        return []

    def set_weights(self, rollout: Rollout, weights: SetWeights) -> None:
        return None

    def read_weights(self, rollout: Rollout) -> tuple[RouteWeights, ...]:
        return ()

    def start_caches(self) -> None:
        return None

    def stop_caches(self) -> None:
        return None
