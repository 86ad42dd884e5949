"""How much more variable stable's bad-request counts are than independent requests allow.

The sequential tests assume every request fails independently with one rate per version.
Real traffic does not: shared incidents, retries counted per attempt, per-pod bursts,
rates that drift minute to minute, pods that differ. All of it shows in stable's own
counts, per pod and per interval, while the canary is judged. With ``x`` bad requests out
of ``n`` in a cell (one pod, one interval) and the pooled rate ``lambda``, the expected
count is ``mu = n lambda``; under independence ``Var(x) = mu``, and with a rate that varies
with relative variance ``v`` (the gamma-Poisson model) ``Var(x) = mu + v mu^2``. The
method-of-moments estimate::

    v = max(0, sum((x - mu)^2 - mu)) / (sum(mu^2) + PRIOR)

is kept as running sums (``Spread``), so it costs five numbers of state. The tests then
*temper* each interval's log likelihood ratio by the factor ``phi >= 1`` by which that
interval's statistic is more variable than the model says (``comparison_dispersion``,
``rate_dispersion``): a tempered likelihood ratio ``LR ** (1/phi)`` keeps expectation at
most 1 where the model holds (Jensen), and approximately so under the gamma-Poisson model
(quasi-likelihood), so the evidence of a noisy world is discounted by the noise measured
in it. Rates are assumed to stay put for ``CORRELATION_SECONDS``: shorter intervals are
tempered as if they lasted that long (at most ``MAX_SCALE`` times their length), since
their noise is shared.

Pure arithmetic, no I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "CORRELATION_SECONDS",
    "VARIANCE_CEILING",
    "VARIANCE_FLOOR",
    "Spread",
    "comparison_dispersion",
    "rate_dispersion",
]

CORRELATION_SECONDS = 60.0
"""How long a burst of noise is assumed to last: intervals are tempered at this scale."""

PRIOR = 1.0
"""Pseudo ``sum(mu^2)``: keeps ``v`` from exploding while stable has shown few errors."""

VARIANCE_FLOOR = 0.25
"""The least relative variance assumed: real error rates swing by half their size from one
minute to the next, and a few minutes of stable's counts cannot show a rarer, larger swing."""

VARIANCE_CEILING = 4.0
"""The most relative variance used. Beyond it the noise is spiky (bursts on one pod, an
incident), which the tests bound by capping each interval's evidence instead: tempering
every interval for a rare spike would leave the acceptance test unable to conclude."""


@dataclasses.dataclass(frozen=True)
class Spread:
    """Running sums over stable's cells: ``x``, ``n``, ``x^2``, ``x n``, ``n^2``."""

    sums: tuple[float, float, float, float, float] = (0.0, 0.0, 0.0, 0.0, 0.0)

    def add(self, cells: Iterable[tuple[float, float]]) -> Spread:
        sx, sn, sxx, sxn, snn = self.sums
        for bad, total in cells:
            sx += bad
            sn += total
            sxx += bad * bad
            sxn += bad * total
            snn += total * total
        return Spread((sx, sn, sxx, sxn, snn))

    @property
    def rate(self) -> float:
        sx, sn = self.sums[0], self.sums[1]
        return sx / sn if sn > 0 else 0.0

    @property
    def relative_variance(self) -> float:
        """``v``: the variance of a cell's bad-request rate over its square mean."""
        sx, sn, sxx, sxn, snn = self.sums
        if sn <= 0 or sx <= 0:
            return VARIANCE_FLOOR
        rate = sx / sn
        excess = sxx - 2 * rate * sxn + rate * rate * snn - rate * sn
        estimate = max(0.0, excess) / (rate * rate * snn + PRIOR)
        return min(VARIANCE_CEILING, max(VARIANCE_FLOOR, estimate))

    def as_list(self) -> list[float]:
        return list(self.sums)

    @classmethod
    def from_list(cls, data: Sequence[float] | Mapping[str, Any] | None) -> Spread:
        values = [float(x) for x in data] if isinstance(data, Sequence) else []
        if len(values) != 5:
            return cls()
        return cls((values[0], values[1], values[2], values[3], values[4]))


MAX_SCALE = 4.0
"""An interval is tempered as if it lasted at most this many times longer (four 15 s
scrapes make the minute; with 1 s scrapes, the noise of 60 intervals is not assumed shared)."""


def _scale(seconds: float) -> float:
    return min(MAX_SCALE, max(1.0, CORRELATION_SECONDS / seconds)) if seconds > 0 else 1.0


def comparison_dispersion(
    *, variance: float, rate: float, canary_total: float, stable_total: float, seconds: float
) -> float:
    """``phi`` of the canary-versus-stable statistic ``x_c - pi m`` for one interval.

    ``Var = (1-pi)^2 mu_c (1 + v mu_c) + pi^2 mu_s (1 + v mu_s)`` against its value at
    ``v = 0``, with the expected counts at ``rate`` over the correlation time.
    """
    total = canary_total + stable_total
    if variance <= 0 or total <= 0 or rate <= 0:
        return 1.0
    share = canary_total / total
    scale = _scale(seconds)
    mu_c, mu_s = canary_total * rate * scale, stable_total * rate * scale
    poisson = (1 - share) ** 2 * mu_c + share**2 * mu_s
    if poisson <= 0:
        return 1.0
    extra = (1 - share) ** 2 * mu_c**2 + share**2 * mu_s**2
    return 1.0 + variance * extra / poisson


def rate_dispersion(*, variance: float, rate: float, total: float, seconds: float) -> float:
    """``phi`` of the canary's own count in one interval: ``1 + v mu``."""
    if variance <= 0 or rate <= 0:
        return 1.0
    return 1.0 + variance * total * rate * _scale(seconds)
