"""What the analysis is given each tick: the numbers each policy's queries returned.

Pure data, built by ``rollout.metrics.observe`` (which does the I/O) or by a simulation
(the detection benchmark), and consumed by ``rollout.analysis.judge``. A reading is either
the series a query returned or the reason it returned nothing usable; the analysis decides
what a missing number means (inconclusive, or a failure when the spec says so).
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Mapping, Sequence

__all__ = [
    "CANARY",
    "COUNT_FIELDS",
    "POD_COUNT_FIELDS",
    "POD_SAMPLED_FIELD",
    "SAMPLED_FIELD",
    "STABLE",
    "PolicyObservation",
    "Reading",
    "ReadingProblem",
]

CANARY = "canary"
STABLE = "stable"

COUNT_FIELDS = frozenset({"errors", "slow", "total"})
"""Template fields that return cumulative counters, possibly one series per pod."""

SAMPLED_FIELD = "sampled"
"""The template field giving each counter series' last sample time (``Reading.stamps``)."""

POD_COUNT_FIELDS = frozenset({"pod_errors", "pod_slow", "pod_total"})
"""The same counters with one series per destination pod (``rollout.analysis.pod_series``)."""

POD_SAMPLED_FIELD = "pod_sampled"
"""The sample times of the per-destination-pod counters."""


class ReadingProblem(enum.StrEnum):
    """Why a query gave no usable number; mirrors ``rollout.metrics.errors``."""

    NO_DATA = "noData"
    NOT_A_NUMBER = "notANumber"
    SEVERAL_SERIES = "severalSeries"
    UNREACHABLE = "unreachable"
    BAD_QUERY = "badQuery"
    ERROR = "error"


@dataclasses.dataclass(frozen=True)
class Reading:
    """One query's answer for one version at one tick.

    ``series`` maps a series key (its label set, ``""`` when unlabelled) to its value. For
    counters several series are fine (one per pod: resets are handled per series); for a
    single value exactly one is expected. ``stamps`` gives the time each counter series was
    sampled (scraped), so the analysis can compare canary and stable over the same time.
    """

    query: str
    series: Mapping[str, float] = dataclasses.field(default_factory=dict)
    stamps: Mapping[str, float] = dataclasses.field(default_factory=dict)
    """Unix time of each series' sample, when known (aligns canary and stable counts)."""
    problem: ReadingProblem | None = None
    detail: str = ""

    @classmethod
    def of(cls, query: str, value: float) -> Reading:
        """A reading of one unlabelled number."""
        return cls(query=query, series={"": value})

    @classmethod
    def failed(cls, query: str, problem: ReadingProblem, detail: str = "") -> Reading:
        return cls(query=query, problem=problem, detail=detail or problem.value)

    @property
    def ok(self) -> bool:
        return self.problem is None

    def value(self) -> float | None:
        """The single finite value, or None (use ``single_problem`` to say why)."""
        if self.problem is not None or len(self.series) != 1:
            return None
        (number,) = self.series.values()
        return number if math.isfinite(number) else None

    def single_problem(self) -> tuple[ReadingProblem, str] | None:
        """Why ``value()`` is None, or None when it is a number."""
        if self.problem is not None:
            return self.problem, self.detail
        if not self.series:
            return ReadingProblem.NO_DATA, "no data: the query returned an empty result"
        if len(self.series) > 1:
            return (
                ReadingProblem.SEVERAL_SERIES,
                f"{len(self.series)} series where one was expected",
            )
        if self.value() is None:
            return (
                ReadingProblem.NOT_A_NUMBER,
                f"the query returned {next(iter(self.series.values()))}",
            )
        return None


@dataclasses.dataclass(frozen=True)
class PolicyObservation:
    """Every reading of one policy at one tick, per version and per template field.

    ``canary`` and ``stable`` map a template field (``errors``, ``total``, ``slow``,
    ``quantile``, ``query``) to its reading; ``stable`` is empty when stable is not queried.
    ``history`` is stable's look-back, given on the baseline tick only: per counter field,
    per series key, ``(time, value)`` at each step (``rollout.analysis.history``).
    """

    policy: str
    canary: Mapping[str, Reading]
    stable: Mapping[str, Reading] = dataclasses.field(default_factory=dict)
    history: Mapping[str, Mapping[str, Sequence[tuple[float, float]]]] = dataclasses.field(
        default_factory=dict
    )

    def reading(self, version: str, field: str) -> Reading | None:
        source = self.canary if version == CANARY else self.stable
        return source.get(field)
