"""Accumulating cumulative counters across ticks, with counter resets handled per series.

The policies query raw cumulative counters (``sum by (pod) (istio_requests_total{...})``)
instead of ``increase(...[window])``: ``increase()`` extrapolates to the window's edges
(fractional, biased counts at low traffic), drops a series' first sample (the canary's
first error would vanish), and consecutive windows overlap or leave gaps between ticks.
Differences of raw counters, taken here, are exact:

- the first observation is the baseline: later increases count, earlier ones do not;
- a series seen before that went up counts the difference;
- a series whose value went down was reset (a restarted container): its new value is
  counted, as Prometheus' own ``increase()`` does;
- a series that appears after the baseline (a new pod, the first 5xx of a pod) started at
  zero and counts in full;
- a series that disappears keeps its last value, so it counts right if it comes back.

Pure code; the state is plain data that round-trips through JSON.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

__all__ = ["CounterTrack"]

MAX_SERIES = 500
"""Series remembered per counter; beyond that the oldest keys are forgotten."""


@dataclasses.dataclass(frozen=True)
class CounterTrack:
    """One counter of one version: last raw value per series and the increase so far."""

    last: Mapping[str, float]
    total: float = 0.0

    @classmethod
    def baseline(cls, series: Mapping[str, float]) -> CounterTrack:
        """Start counting from these values."""
        return cls(last={k: v for k, v in series.items() if math.isfinite(v)}, total=0.0)

    def advance(self, series: Mapping[str, float]) -> tuple[CounterTrack, float]:
        """The track after a new reading, and the increase since the previous one."""
        increase = 0.0
        last = dict(self.last)
        for key, value in series.items():
            if not math.isfinite(value) or value < 0:
                continue
            previous = last.get(key)
            if previous is None or value < previous:
                increase += value
            else:
                increase += value - previous
            last.pop(key, None)
            last[key] = value
        while len(last) > MAX_SERIES:
            last.pop(next(iter(last)))
        return CounterTrack(last=last, total=self.total + increase), increase

    def as_dict(self) -> dict[str, Any]:
        return {"last": dict(self.last), "total": self.total}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CounterTrack:
        last = {str(k): float(v) for k, v in dict(data.get("last", {})).items()}
        return cls(last=last, total=float(data.get("total", 0.0)))
