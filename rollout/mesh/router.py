"""The traffic router interface: check the mesh objects, move weights, read them back.

One small Protocol per outside concern (see STYLE.md): the coordinator needs only these
three calls, so an Istio, Gateway API or SMI router can sit behind it, one file each
(:mod:`rollout.mesh.istio` is the one we ship). The types here are pure data.

- ``check`` lists what keeps a rollout from routing, before any traffic moves, so a broken
  object is reported by name and nothing is half-written;
- ``set_weights`` applies absolute weights (replaying it is harmless);
- ``read_weights`` says what the mesh carries now, route by route, and whether that
  drifted from what was last written or expected (so a controller restarted mid-rollout
  picks up where it was, and an edit by someone else is noticed).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Protocol

from rollout.effects import SetWeights
from rollout.errors import ClusterError
from rollout.spec.rollout import Rollout

__all__ = ["LiveWeights", "RouteWeights", "Router", "TrafficConfigError"]


class TrafficConfigError(ClusterError):
    """The mesh objects cannot carry the rollout as asked (a missing VirtualService, route,
    destination or subset); nothing was written. Carries one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


@dataclasses.dataclass(frozen=True)
class RouteWeights:
    """The live weights of one managed http route.

    ``weights`` maps each subset of the rollout's host to its weight; ``stable_weight`` and
    ``canary_weight`` are None when the versions are unknown (nothing written or expected)
    or the subset is absent (a missing canary destination carries 0).
    """

    virtual_service: str
    route: str
    weights: Mapping[str, int]
    stable_weight: int | None
    canary_weight: int | None
    record: str | None = None
    """The rollout's record annotation on the VirtualService holding the route."""

    def describe(self) -> str:
        split = ", ".join(f"{subset} {weight}%" for subset, weight in self.weights.items())
        return f"VirtualService {self.virtual_service} route {self.route}: {split or 'none'}"


@dataclasses.dataclass(frozen=True)
class LiveWeights:
    """The weights every managed route carries now.

    ``canary_weight`` is the one value all routes agree on, or None when they disagree or
    the versions are unknown; ``drift`` says how the routes differ from what was last
    written (or expected), None when they match.
    """

    routes: tuple[RouteWeights, ...]
    canary_weight: int | None
    drift: str | None = None


class Router(Protocol):
    """Moves traffic between a rollout's stable and canary versions."""

    def check(self, rollout: Rollout, stable: str, canary: str | None) -> list[str]:
        """Problems that keep the rollout from routing; empty when all is well."""
        ...

    def set_weights(self, rollout: Rollout, weights: SetWeights) -> None:
        """Apply absolute weights to every managed route, or raise without writing."""
        ...

    def read_weights(self, rollout: Rollout, *, expected: SetWeights | None = None) -> LiveWeights:
        """The live weights, compared with ``expected`` or else the last write."""
        ...
