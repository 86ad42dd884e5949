"""The scrape clock and the look-back range query, on the simulator's counters.

``look_back`` is one series of the look-back range query the analyzer makes at a
rollout's start (a counter at its last scrape before every minute of the hour before).
The per-pod and the per-caller views (``bench/traffic.py``, ``bench/callers.py``) both
answer through it, on the same scrape interval and buckets.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "BUCKETS_MS",
    "HISTORY_SECONDS",
    "HISTORY_STEP",
    "SCRAPE_SECONDS",
    "last_samples",
    "look_back",
    "scrape_before",
    "window_span",
]

BUCKETS_MS = (1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0)
"""Istio's request-duration buckets."""
SCRAPE_SECONDS = 15
HISTORY_SECONDS = 3600
"""Stable's traffic before the rollout, read by the look-back."""
HISTORY_STEP = 60
"""The look-back range query's step."""


def scrape_before(at: int, phase: int, lag: int) -> int:
    """The last scrape of a series scraped every ``SCRAPE_SECONDS`` from ``phase`` whose
    samples reach Prometheus ``lag`` seconds late, as seen at ``at`` (before ``phase`` when
    none is visible yet)."""
    return phase + ((at - lag - phase) // SCRAPE_SECONDS) * SCRAPE_SECONDS


def last_samples(phases: Sequence[int], lags: Sequence[int], now: float, newest: int) -> list[int]:
    """Each series' last visible sample time at ``now``, no later than ``newest`` (the
    simulation's present); -1 before its first scrape."""
    times = []
    for phase, lag in zip(phases, lags, strict=True):
        sample = scrape_before(int(now), phase, lag)
        times.append(min(sample, newest) if sample >= phase else -1)
    return times


def window_span(
    last: np.ndarray, phases: Sequence[int], now: float, seconds: float
) -> tuple[np.ndarray, np.ndarray]:
    """Each series' first sample inside the trailing window of ``seconds`` ending at its
    ``last`` sample, and whether it has two samples there to take an increase from."""
    first = last - ((last - int(now - seconds)) // SCRAPE_SECONDS) * SCRAPE_SECONDS
    first = np.maximum(first, np.array(phases))
    return first, (last >= 0) & (first < last)


def look_back(
    past: np.ndarray, phase: int, lag: int, now: float
) -> tuple[tuple[float, float], ...]:
    """One series' points of the look-back range query: ``past`` (its counter for each
    second of the hour before the rollout) at its last scrape before every step."""
    steps = np.arange(-HISTORY_SECONDS, int(now) + 1, HISTORY_STEP)
    # scrape_before for every step at once; a step before the hour's first scrape is left out
    index = np.minimum(phase + ((steps - lag - phase) // SCRAPE_SECONDS) * SCRAPE_SECONDS, 0)
    index += HISTORY_SECONDS
    kept = index >= 0
    times: list[float] = steps[kept].astype(float).tolist()
    values: list[float] = past[index[kept]].astype(float).tolist()
    return tuple(zip(times, values, strict=True))
