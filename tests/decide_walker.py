"""Walking the decision core tick by tick, for the tests of decide, adoption and reconcile.

``Walker`` feeds ticks to ``decide`` and keeps the state and every weight it set, as the
coordinator would; the verdicts are the ones the tests hand it. The rollout is
``tests.rollouts.make_rollout``'s (steps 10% / analyze / 50% / pause / 100%).
"""

from __future__ import annotations

from typing import Any

from rollout.adoption import LiveRoutes
from rollout.analysis.verdicts import Evidence, Outcome, Verdict
from rollout.decide import Decision, Observations, decide
from rollout.effects import SetWeights
from rollout.state import Command, Phase, RolloutState
from tests.rollouts import make_rollout

PASS = Verdict(Outcome.PASS, (), canary_requests=50, promotable=False, within_slo=True)
NOT_YET_SHOWN = Verdict(Outcome.PASS, (), canary_requests=50)
"""Passing, but the evidence does not yet show the canary within its SLOs."""
PROMOTABLE = Verdict(Outcome.PASS, (), canary_requests=500, promotable=True, within_slo=True)
INCONCLUSIVE = Verdict(
    Outcome.INCONCLUSIVE,
    (Evidence("istio-error-ratio", "absolute", Outcome.INCONCLUSIVE, "no data"),),
)
FAIL = Verdict(
    Outcome.FAIL,
    (
        Evidence(
            "istio-error-ratio",
            "canary-vs-stable",
            Outcome.FAIL,
            "error ratio 0.050 > 0.010",
            value=0.05,
            threshold=0.01,
            sample_size=40,
            p_value=0.001,
        ),
    ),
    canary_requests=40,
)


class Walker:
    """Feeds ticks to ``decide`` and keeps the state, as the coordinator would."""

    def __init__(self, **spec: Any) -> None:
        self.spec = spec
        self.rollout = make_rollout("v1", **spec)
        self.state = RolloutState()
        self.now = 1000.0
        self.last: Decision | None = None
        self.weights: list[tuple[str, str | None, int]] = []
        self.live = LiveRoutes(({"v1": 100},))
        """What the routes carry when the controller has no state (first sight)."""

    def tick(
        self,
        *,
        after: float = 10.0,
        ready: bool = True,
        verdict: Verdict | None = None,
        command: Command | None = None,
        spec_hash: str = "hash-1",
        deleted: bool = False,
    ) -> Decision:
        self.now += after
        obs = Observations(
            now=self.now,
            spec_hash=spec_hash,
            commit="abc123",
            author="alice",
            canary_ready=ready,
            readiness_message="0/1 replicas available",
            verdict=verdict,
            analysis_state={"ticks": 1} if verdict else None,
            command=command,
            live=self.live if self.state.stable_version is None else None,
        )
        self.last = decide(self.rollout, self.state, obs, deleted=deleted)
        self.state = self.last.state
        for effect in self.last.effects:
            if isinstance(effect, SetWeights):
                self.weights.append(
                    (effect.stable_version, effect.canary_version, effect.canary_weight)
                )
        return self.last

    def push(self, version: str) -> None:
        self.rollout = make_rollout(version, **self.spec)

    def phase(self) -> Phase:
        """The phase now. A call, so that a type checker does not carry what an earlier
        ``walker.state.phase is ...`` proved past the tick that changed it."""
        return self.state.phase

    def alerts(self) -> list[str]:
        return [a.notification["event"] for a in self.state.outbox]


def started(walker: Walker) -> Walker:
    """The walker with v1 adopted as stable and v2 pushed, before v2's first tick."""
    walker.tick()
    walker.push("v2")
    return walker
