"""The metrics provider interface: ask for a number, or for a few labelled series.

One small Protocol, as Flagger's ``RunQuery``/``IsOnline``; ``prometheus.py`` implements
it. The analysis never sees a provider: ``observe.py`` turns provider answers (and
provider errors) into plain observations. Implementations raise only the errors of
``rollout.metrics.errors``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Protocol

from rollout.metrics import errors

__all__ = ["DEFAULT_TIMEOUT", "MetricsProvider", "Series", "single_value"]

DEFAULT_TIMEOUT = 10.0
"""Seconds a query may take before it counts as unreachable."""


@dataclasses.dataclass(frozen=True)
class Series:
    """One series of an instant vector: its labels and its value at the query time."""

    labels: tuple[tuple[str, str], ...]
    value: float

    @property
    def key(self) -> str:
        """The label set as ``a=1,b=2`` (sorted), stable across ticks; ``""`` for no labels."""
        return ",".join(f"{name}={value}" for name, value in sorted(self.labels))


def single_value(series: tuple[Series, ...], *, query: str) -> float:
    """The one finite value of ``series``; raise NoData, SeveralSeries or NotANumber."""
    if not series:
        raise errors.NoData(f"no data: the query returned an empty result: {query}")
    if len(series) > 1:
        keys = "; ".join(s.key or "{}" for s in series[:3])
        raise errors.SeveralSeries(
            f"expected one series, got {len(series)} ({keys}); aggregate with sum() or "
            f"another operator: {query}",
            count=len(series),
        )
    value = series[0].value
    if not math.isfinite(value):
        raise errors.NotANumber(f"the query returned {value}: {query}")
    return value


class MetricsProvider(Protocol):
    """A monitoring system that answers instant queries."""

    def query(
        self, promql: str, *, at: float | None = None, timeout: float = DEFAULT_TIMEOUT
    ) -> float:
        """One finite number at ``at`` (Unix seconds; now when None)."""
        ...

    def query_series(
        self, promql: str, *, at: float | None = None, timeout: float = DEFAULT_TIMEOUT
    ) -> tuple[Series, ...]:
        """Every series of an instant vector (a scalar comes back as one unlabelled series).

        An empty result is returned as an empty tuple, not raised: for counters that is a
        fact (nothing counted yet), and the caller decides what it means.
        """
        ...

    def is_online(self) -> bool:
        """Whether the server answers at all; never raises."""
        ...
