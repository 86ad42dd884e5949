"""Stable's noise before the rollout: do its pods differ from one another, and how much?

The check across pods (``pods.py``) guards against noise that lives in one pod: a pod
bursting to 10% errors for half a minute, a pod on a bad node, a pod whose callers retry.
It costs a bad canary requests (every pod must show evidence of its own), so it should be
paid where the service shows that noise, and stable's pods show it before the rollout
starts. On the baseline tick the analysis is given stable's per-pod counters over the
look-back (an hour in one-minute steps, one range query per counter): ``summarise`` turns
them into pod-minutes and measures how far each pod-minute's bad requests stray from what
the *other* pods of the same minute predict::

    mu = n * (X - x) / (N - n)           (x of n in the pod-minute; X of N in the minute)
    v  = max(0, sum((x - mu)^2 - mu (1 + n / (N - n)))) / (sum(mu^2) + PRIOR)

``v`` is the relative variance of one pod's rate against its neighbours' in the same
minute: under independent requests it is 0 (the correction term is the Poisson variance
of ``x - mu``); bursts on single pods, pods with their own rates and per-pod gamma noise
raise it; noise shared by every pod (an incident, a slow dependency all pods call, traffic
swings) does not, because the other pods of that minute see it too. Its standard error
under independent requests is ``sqrt(sum(mu + 2 mu^2)) / sum(mu^2)``.

- **Quiet** (``History.quiet``): ``v`` is at most ``QUIET_VARIANCE``, its standard
  error at most half of that, and stable as a whole suffered no incident in the hour (an
  incident a few seconds long lands in different intervals for pods scraped at different
  moments, and the alignment's residual then looks like one pod's evidence). The history
  could have shown pod-level noise and did not (one burst of 30 bad requests in an hour of
  six pods at 0.1% lifts ``v`` to about 3); the check
  across pods then asks only that no pod's removal leaves the data leaning the other way.
  A history too thin to tell (low traffic, one pod, a new service) is not quiet.
- **Bursts since** (``History.bursts``): the pods of both versions keep serving while the
  canary is judged, and a burst on one of them during the rollout (``burst_among``: a
  pod's bad requests of an interval far above what the other pods of its version predict
  for that interval) says the hour was quiet by luck; a regression of the canary shows on
  all its pods alike and is no burst. The history is then no longer quiet, for the rest of the
  rollout: a quiet hour followed by bursts is the world the relaxed check is wrong in. The
  same rule (``bursting``, allowing for the pods' measured swings) tells the check across
  pods which canary pod's data corroborates no other pod's evidence in an interval.
- **Tempering** (``History.tempering``): the rejection tests are tempered by ``v`` (up to
  ``TEMPERING_CEILING``) when it is larger than stable's live measure, so a burst on a
  canary pod weighs what such bursts weigh in stable's own hour.

Pure arithmetic; the history is read once and kept as five numbers.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Mapping, Sequence

__all__ = [
    "QUIET_VARIANCE",
    "TEMPERING_CEILING",
    "History",
    "Samples",
    "burst_among",
    "bursting",
    "pod_minutes",
    "summarise",
]

Samples = Mapping[str, Sequence[tuple[float, float]]]
"""Per series (pod) key, ``(time, cumulative counter)`` at the look-back's steps."""

QUIET_VARIANCE = 0.25
"""A history whose pods differ by at most this relative variance, measured to within half
of it, is quiet: rates that differ by half their size between pods, or less. Independent
requests measure above it about once in 300 histories."""

TEMPERING_CEILING = 16.0
"""The most relative variance the rejection tests are tempered by: a pod-minute's rate
swinging by four times its mean. Beyond it stable's hour shows spikes (bursts) rather than
swings, and tempering every interval by their full variance would let a canary bad on
every pod serve hundreds of bad requests before it is convicted; what one spike adds is
bounded by the cap per interval, the check across pods and the hold (``pods.py``)."""

PRIOR = 1.0
"""Pseudo ``sum(mu^2)``, as in ``dispersion.py``."""

BREACH_SIGMAS = 3.0


UNMEASURED = 1e12
"""How an unmeasured (infinite) standard error is stored: no measured one comes near it."""


@dataclasses.dataclass(frozen=True)
class History:
    """What stable's look-back showed: pod-level relative variance, its standard error, how
    many pod-minutes it rests on (0: no history), and the minutes of incidents stable as a
    whole suffered."""

    pod_variance: float = 0.0
    error: float = math.inf
    pod_minutes: int = 0
    incidents: int = 0
    bursts: int = 0
    """Bursts on one pod of either version during the rollout that ended a quiet look-back
    (``burst_among``): 0 or 1, since nothing is looked for once the history is not quiet."""

    @property
    def quiet(self) -> bool:
        return (
            self.pod_minutes > 0
            and self.incidents == 0
            and self.bursts == 0
            and self.pod_variance <= QUIET_VARIANCE
            and self.error <= QUIET_VARIANCE / 2
        )

    def seen(self, cells: Sequence[tuple[float, float]]) -> History:
        """The history after one interval of one version's pods during the rollout: a burst
        on one of them (stable's, or one of the canary's: pod-level noise the quiet hour
        did not show) ends the quiet. Only a quiet history is checked: the check is on
        every tick's path, and the quiet is all a burst changes."""
        if not self.quiet or not burst_among(cells):
            return self
        return dataclasses.replace(self, bursts=self.bursts + 1)

    @property
    def tempering(self) -> float:
        return min(self.pod_variance, TEMPERING_CEILING) if self.pod_minutes > 0 else 0.0

    def as_list(self) -> list[float]:
        return [
            self.pod_variance,
            min(self.error, UNMEASURED),
            float(self.pod_minutes),
            float(self.incidents),
            float(self.bursts),
        ]

    @classmethod
    def from_list(cls, values: Sequence[float] | None) -> History:
        """The summary ``as_list`` gave (JSON has no infinity: an error stored as
        ``UNMEASURED`` reads back as the infinity it was, so the round trip is exact)."""
        if not values or len(values) not in (3, 4, 5):
            return cls()
        incidents = int(values[3]) if len(values) >= 4 else 0
        bursts = int(values[4]) if len(values) == 5 else 0
        error = float(values[1])
        return cls(
            float(values[0]),
            math.inf if error >= UNMEASURED else error,
            int(values[2]),
            incidents,
            bursts,
        )


def _increases(samples: Sequence[tuple[float, float]]) -> dict[float, float]:
    """Each step's increase of one counter series (a drop is a reset, as ``increase()``)."""
    ordered = sorted(samples)
    return {
        time: (value - before if value >= before else value)
        for (_, before), (time, value) in itertools.pairwise(ordered)
        if value == value
    }


def pod_minutes(bad: Samples, total: Samples) -> dict[float, list[tuple[float, float]]]:
    """Per step, each pod's ``(bad, total)`` increase over it, for pods that served requests."""
    steps: dict[float, list[tuple[float, float]]] = {}
    for key, samples in total.items():
        served = _increases(samples)
        failed = _increases(bad.get(key, ()))
        for time, requests in served.items():
            if requests > 0:
                steps.setdefault(time, []).append(
                    (max(0.0, min(failed.get(time, 0.0), requests)), requests)
                )
    return steps


def summarise(
    bad: Samples, total: Samples, *, allowed: float | None
) -> tuple[History, list[tuple[float, float]]]:
    """The history's pod-level noise, and its pod-minutes for stable's running spread
    (minutes in which stable as a whole broke ``allowed`` clearly, incidents, left out)."""
    excess = square = poisson = 0.0
    used = incidents = 0
    everyday: list[tuple[float, float]] = []
    for cells in pod_minutes(bad, total).values():
        failed = sum(cell[0] for cell in cells)
        served = sum(cell[1] for cell in cells)
        if allowed is not None and failed > _breach_level(served, allowed):
            incidents += 1  # stable as a whole suffered it: set apart, as in the live spread
            continue
        everyday += cells
        if len(cells) < 2:
            continue
        for x, n, mu, others in _against_neighbours(cells, failed, served):
            excess += (x - mu) ** 2 - mu * (1.0 + n / others)
            square += mu * mu
            poisson += mu + 2 * mu * mu
            used += 1
    if used == 0:
        return History(incidents=incidents), everyday
    variance = max(0.0, excess) / (square + PRIOR)
    error = math.sqrt(poisson) / (square + PRIOR) if poisson > 0 else math.inf
    return History(variance, error, used, incidents), everyday


def _against_neighbours(
    cells: Sequence[tuple[float, float]], failed: float, served: float
) -> list[tuple[float, float, float, float]]:
    """Each pod-minute ``(x, n, mu, others' requests)``, ``mu`` from the other pods of the
    minute that are not outliers themselves: one bursting pod would otherwise raise every
    other pod's expectation and hide itself in the spread it causes."""
    outliers = _outliers(cells, failed, served)
    kept_bad = sum(x for index, (x, _) in enumerate(cells) if index not in outliers)
    kept = sum(n for index, (_, n) in enumerate(cells) if index not in outliers)
    measured = []
    for index, (x, n) in enumerate(cells):
        own = index not in outliers
        others = kept - (n if own else 0.0)
        if others > 0:
            mu = n * (kept_bad - (x if own else 0.0)) / others
            measured.append((x, n, mu, others))
    return measured


def _outliers(
    cells: Sequence[tuple[float, float]], failed: float, served: float, variance: float = 0.0
) -> set[int]:
    """The cells whose bad requests are far above what the other cells predict: more than
    ``BREACH_SIGMAS`` deviations and two requests over their expectation, a deviation being
    Poisson's with a pod's rate swinging by ``variance`` (relative) on top."""
    outliers = set()
    for index, (x, n) in enumerate(cells):
        others = served - n
        mu = n * (failed - x) / others if others > 0 else 0.0
        if x > mu + BREACH_SIGMAS * math.sqrt(mu + variance * mu * mu) + 2.0:
            outliers.add(index)
    return outliers


def burst_among(cells: Sequence[tuple[float, float]]) -> bool:
    """Whether one of several pods' ``(bad, total)`` of one interval burst: its bad
    requests far above what the others predict. Noise shared by every pod (an incident, a
    slow dependency) raises the others' prediction with it and is no burst."""
    return bool(bursting(cells))


def bursting(cells: Sequence[tuple[float, float]], *, variance: float = 0.0) -> set[int]:
    """The indices of the pods of ``cells`` (one interval of one version's pods) that
    burst in it (``burst_among``), beyond pods' rates that swing by ``variance`` (relative)
    from interval to interval; none with fewer than two pods serving."""
    served = [index for index, cell in enumerate(cells) if cell[1] > 0]
    if len(served) < 2:
        return set()
    kept = [cells[index] for index in served]
    failed = sum(cell[0] for cell in kept)
    outliers = _outliers(kept, failed, sum(cell[1] for cell in kept), variance)
    return {served[index] for index in outliers}


def _breach_level(served: float, allowed: float) -> float:
    expected = served * allowed
    return expected + BREACH_SIGMAS * math.sqrt(expected) + 1.0
