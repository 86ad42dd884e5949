"""Is the evidence the canary's, or one pod's? The rejection tests, and their check across pods.

Real noise lives in pods: one pod's dependency times out, one pod's cache is cold, one pod
bursts to 10% errors for half a minute. A version's regression shows on all of its pods.
A burst on one of the canary's two pods looks exactly like a bad canary to a test of the
canary's pooled counts, and for as long as it lasts, however the evidence is tempered or
capped. What tells them apart is the other pods: they do not share one pod's burst.

So besides the pooled rejection e-process, every canary pod ``p`` gets a *leave-one-out*
e-process: the same tests run on the canary's counts without pod ``p`` (and stable's).
Each is a valid e-process under the null on its own (it is the same test on less data).
A rollback needs the pooled evidence at the rejection level **and** every leave-one-out
evidence at ``CORROBORATION`` of that level (in logs: an e-value of about 3.8 at the
default level 200): the evidence is not carried by one pod. Adding a condition to a
rejection only lowers its false-alarm probability, so the guarantee of the pooled test
(Ville's inequality) is kept. A canary that is worse on every pod corroborates itself
quickly: each pod's own errors are strong evidence. A canary with one pod cannot be told
from a burst on that pod: it is judged on the pooled evidence alone.

A pod bursting in an interval (its bad requests far above what the canary's other pods
predict, beyond the noise the interval's tests are tempered by: ``history.bursting``) is
left out of the other pods' leave-one-out data for that interval: two pods that burst at
different moments do not corroborate each other's evidence, while a regression shows on
all pods alike and is no burst. This changes only the condition added to the pooled test,
so its guarantee is kept. Where every pod's rate swings hard from minute to minute, a
regression's errors come in one pod's loud minutes too and corroborate less: it is held
longer (measured in docs/analysis.md).

A pod first seen after the start takes the pooled statistics as its leave-one-out ones
(before it, the canary's data did not include it). At most ``MAX_PODS`` pods are followed,
the ones seen last. Pure arithmetic; the state is plain data.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

from rollout.analysis import dispersion, history, sequential

__all__ = [
    "CORROBORATION",
    "HOLD_WINDOWS",
    "INTERVAL_CAP",
    "MAX_PODS",
    "QUIET_CORROBORATION",
    "Hold",
    "Rejection",
    "Setting",
    "corroborated",
    "leave_one_out",
    "rejection_step",
]

CORROBORATION = 0.25
"""A rollback needs every leave-one-pod-out evidence at this share of the log rejection
level: the data lean the same way without any one pod. A healthy pod's own evidence
reaches it with probability at most ``exp(-0.25 log(K/alpha))`` (about 1 in 4 at the
default level), and in practice far less, as its evidence drifts down."""

QUIET_CORROBORATION = 0.0
"""The check across pods where stable's look-back showed its pods alike (``history.py``):
every leave-one-out evidence at least 1, the data without any one pod still leaning worse."""

INTERVAL_CAP = math.log(30.0)
"""The most one interval can add to a rejection log likelihood ratio: a clump of bad
requests (one caller's retries, a pod's hiccup) weighs at most as much as one bad request
at a 1% share against a canary 30 times worse; it takes bad requests in several intervals
to convict."""

MAX_PODS = 20
"""Canary pods followed for leave-one-out evidence (the ones seen last)."""


@dataclasses.dataclass(frozen=True)
class Rejection:
    """The rejection tests' log ratios: canary versus stable, and canary versus the SLO."""

    comparison: tuple[float, ...]
    absolute: tuple[float, ...]

    def as_list(self) -> list[float]:
        return [*self.comparison, *self.absolute]

    @classmethod
    def from_list(cls, values: Sequence[float]) -> Rejection:
        split = len(sequential.COMPARISON_GRID)
        if len(values) != split + len(sequential.RATE_GRID):
            return cls.fresh()
        return cls(tuple(values[:split]), tuple(values[split:]))

    @classmethod
    def fresh(cls) -> Rejection:
        return cls((0.0,) * len(sequential.COMPARISON_GRID), (0.0,) * len(sequential.RATE_GRID))

    def log_evidence(self, *, compare: bool, allowed: float | None, mass: float) -> float:
        """The mixture of both families, with ``mass`` on the comparison."""
        log_ratios: list[float] = []
        weights: list[float] = []
        comparison_mass = (mass if allowed is not None else 1.0) if compare else 0.0
        if compare:
            log_ratios += self.comparison
            weights += [w * comparison_mass for _, w in sequential.COMPARISON_GRID]
        if allowed is not None:
            log_ratios += self.absolute
            weights += [w * (1.0 - comparison_mass) for _, w in sequential.RATE_GRID]
        return sequential.log_mixture(log_ratios, weights) if weights else 0.0


@dataclasses.dataclass(frozen=True)
class Setting:
    """What one interval's tests need besides the canary's counts."""

    stable: tuple[float, float]
    seconds: float
    noise: float
    rate: float
    allowed: float | None
    compare: bool
    incident: bool


HOLD_WINDOWS = 3
"""A hold's fresh evidence must come from at least this many windows of the noise's
correlation time (``dispersion.CORRELATION_SECONDS``): each adds at most this share of the
rejection level, so one burst, however long within a window, cannot convict alone."""


@dataclasses.dataclass(frozen=True)
class Hold:
    """The rejection tests started afresh when the pooled evidence first reached the level
    while one pod carried it: from ``since`` plus one correlation time (a burst that caused
    the hold is over by then; a bad pod keeps failing), each window of that length adding
    at most ``1 / HOLD_WINDOWS`` of the log level. The hold begins at a stopping time of the
    pooled e-process, so the fresh one convicts only where the pooled one already reached
    the level: under the model it adds no false alarm to the pooled test's ``alpha``."""

    since: float
    window: int = -1
    base: Rejection = dataclasses.field(default_factory=lambda: Rejection.fresh())
    statistics: Rejection = dataclasses.field(default_factory=lambda: Rejection.fresh())

    def step(
        self,
        canary: tuple[float, float],
        setting: Setting,
        *,
        start: float,
        correlation: float,
        log_threshold: float,
    ) -> Hold:
        """One aligned interval beginning at ``start``."""
        window = int((start - self.since) // correlation) - 1
        if window < 0:
            return self
        base = self.statistics if window != self.window else self.base
        moved = rejection_step(self.statistics, canary, setting)
        cap = log_threshold / HOLD_WINDOWS
        capped = Rejection(
            tuple(min(x, b + cap) for x, b in zip(moved.comparison, base.comparison, strict=True)),
            tuple(min(x, b + cap) for x, b in zip(moved.absolute, base.absolute, strict=True)),
        )
        return Hold(self.since, window, base, capped)

    def as_list(self) -> list[float]:
        return [self.since, float(self.window), *self.base.as_list(), *self.statistics.as_list()]

    @classmethod
    def from_list(cls, values: Sequence[float] | None) -> Hold | None:
        if not values or len(values) < 2:
            return None
        size = (len(values) - 2) // 2
        return cls(
            float(values[0]),
            int(values[1]),
            Rejection.from_list(values[2 : 2 + size]),
            Rejection.from_list(values[2 + size :]),
        )


def rejection_step(previous: Rejection, canary: tuple[float, float], setting: Setting) -> Rejection:
    """One aligned interval's evidence, tempered by stable's noise and capped."""
    comparison, absolute = previous.comparison, previous.absolute
    stable = setting.stable
    if setting.compare and canary[1] > 0 and stable[1] > 0:
        comparison = tuple(
            sequential.comparison_update(
                comparison,
                canary_bad=canary[0],
                canary_total=canary[1],
                stable_bad=stable[0],
                stable_total=stable[1],
                dispersion=dispersion.comparison_dispersion(
                    variance=setting.noise,
                    rate=setting.rate,
                    canary_total=canary[1],
                    stable_total=stable[1],
                    seconds=setting.seconds,
                ),
                cap=INTERVAL_CAP,
            )
        )
    if setting.allowed is not None and not setting.incident and canary[1] > 0:
        own = dispersion.rate_dispersion(
            variance=setting.noise, rate=setting.rate, total=canary[1], seconds=setting.seconds
        )
        absolute = tuple(
            sequential.rate_update(
                absolute,
                bad=canary[0],
                total=canary[1],
                allowed=setting.allowed,
                dispersion=own,
                cap=INTERVAL_CAP,
            )
        )
    return Rejection(comparison, absolute)


def leave_one_out(
    previous: Mapping[str, Rejection],
    pooled_before: Rejection,
    cells: Sequence[tuple[str, float, float]],
    setting: Setting,
) -> dict[str, Rejection]:
    """Each canary pod's leave-one-out statistics after one interval.

    ``cells`` are the interval's canary pods ``(key, bad, total)``.
    """
    pods = dict(previous)
    for key, _, _ in cells:
        # a pod seen now for the first time: the canary's data so far did not include it
        pods[key] = pods.pop(key, pooled_before)
    # a pod bursting in this interval corroborates no other pod's evidence
    bursts = history.bursting(
        [(cell_bad, cell_total) for _, cell_bad, cell_total in cells], variance=setting.noise
    )
    steady = [cell for index, cell in enumerate(cells) if index not in bursts]
    bad = sum(cell[1] for cell in steady)
    total = sum(cell[2] for cell in steady)
    own = {key: (cell_bad, cell_total) for key, cell_bad, cell_total in steady}
    updated = {}
    for key, statistics in pods.items():
        pod_bad, pod_total = own.get(key, (0.0, 0.0))
        rest = (max(0.0, bad - pod_bad), max(0.0, total - pod_total))
        updated[key] = rejection_step(statistics, rest, setting)
    while len(updated) > MAX_PODS:
        updated.pop(next(iter(updated)))
    return updated


def corroborated(
    pods: Mapping[str, Rejection],
    *,
    log_threshold: float,
    compare: bool,
    allowed: float | None,
    mass: float,
    share: float = CORROBORATION,
) -> bool:
    """Whether no single pod carries the evidence (always, with fewer than two pods): every
    leave-one-out evidence at ``share`` of the log rejection level (at 0: at least 1)."""
    if len(pods) < 2:
        return True
    level = share * log_threshold
    return all(
        statistics.log_evidence(compare=compare, allowed=allowed, mass=mass) >= level
        for statistics in pods.values()
    )
