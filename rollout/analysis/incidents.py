"""Which intervals hold a shared incident: errors stable suffers too, which the canary is not
blamed for against its SLO (``count_check.py`` sets them apart).

An interval is one when stable broke the SLO in it clearly (``stable_breached``), or when
stable is over the SLO and its pods, read per destination pod, are over it together: the
part of an incident that an interval covers only in part (``elevated_together``). A burst
on one stable pod lifts every caller's count of stable just as an incident does; leaving
out the pod that served the most bad requests (``over_on_every_pod``) tells the two apart.
Pure code.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from rollout.analysis import dispersion
from rollout.analysis.alignment import Interval

__all__ = [
    "BREACH_SIGMAS",
    "elevated_together",
    "over_on_every_pod",
    "shared_incident",
    "stable_breached",
]

BREACH_SIGMAS = 3.0
"""Stable's interval count this many standard deviations over its SLO is an incident."""


def stable_breached(interval: Interval, *, allowed: float, noise: float) -> bool:
    """Whether stable's own rate clearly broke the SLO in this interval (an incident)."""
    bad, total = interval.stable
    if total <= 0:
        return False
    expected = total * allowed
    spread = math.sqrt(
        expected
        * dispersion.rate_dispersion(
            variance=noise, rate=allowed, total=total, seconds=interval.seconds
        )
    )
    return bad > expected + BREACH_SIGMAS * spread + 1.0


def shared_incident(
    interval: Interval, spread: dispersion.Spread, allowed: float | None, compare: bool
) -> bool:
    """Whether ``interval`` holds an incident stable suffers too (compared, with an SLO)."""
    return (
        compare
        and allowed is not None
        and stable_breached(interval, allowed=allowed, noise=spread.relative_variance)
    )


def over_on_every_pod(cells: Sequence[tuple[float, float]], *, allowed: float) -> bool:
    """Whether stable's pods, ``(bad, total)`` each, are over ``allowed`` with the pod that
    served the most bad requests left out (by a bad request more than ``allowed`` predicts
    of the others): what a shared incident does to every pod, and a burst on one pod does
    not. False with fewer than two pods serving: one pod cannot tell them apart."""
    serving = [(bad, total) for bad, total in cells if total > 0]
    if len(serving) < 2:
        return False
    loudest = max(range(len(serving)), key=lambda index: serving[index][0])
    others = [cell for index, cell in enumerate(serving) if index != loudest]
    bad = sum(cell_bad for cell_bad, _ in others)
    total = sum(cell_total for _, cell_total in others)
    return bad > total * allowed + 1.0


def elevated_together(
    interval: Interval, where: Interval | None, allowed: float | None, compare: bool
) -> bool:
    """Whether stable is over the SLO in ``interval``, if less clearly than in an incident,
    while its pods, read per destination pod in ``where`` (the per-pod series' interval of
    the same tick), are over it together: the part of a shared incident that an interval
    covers only in part. A burst on one stable pod lifts every caller's count of stable
    alike, so only the per-pod series tell the two apart; without them, False."""
    if not compare or allowed is None or where is None:
        return False
    bad, total = interval.stable
    return 0 < total < bad / allowed and over_on_every_pod(where.stable_cells, allowed=allowed)
