"""The scrape clock and the look-back range query, on the simulator's counters.

``look_back`` is one series of the look-back range query the analyzer makes at a
rollout's start (a counter at its last scrape before every minute of the hour before).
The per-pod and the per-caller views (``bench/traffic.py``, ``bench/callers.py``) both
answer through it, on the same scrape interval and buckets.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BUCKETS_MS", "HISTORY_SECONDS", "HISTORY_STEP", "SCRAPE_SECONDS", "look_back"]

BUCKETS_MS = (1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0)
"""Istio's request-duration buckets."""
SCRAPE_SECONDS = 15
HISTORY_SECONDS = 3600
"""Stable's traffic before the rollout, read by the look-back."""
HISTORY_STEP = 60
"""The look-back range query's step."""


def look_back(
    past: np.ndarray, phase: int, lag: int, now: float
) -> tuple[tuple[float, float], ...]:
    """One series' points of the look-back range query: ``past`` (its counter for each
    second of the hour before the rollout) at its last scrape before every step."""
    points = []
    for step in range(-HISTORY_SECONDS, int(now) + 1, HISTORY_STEP):
        visible = step - lag - phase
        sample = phase + (visible // SCRAPE_SECONDS) * SCRAPE_SECONDS
        index = min(sample, 0) + HISTORY_SECONDS
        if index >= 0:
            points.append((float(step), float(past[index])))
    return tuple(points)
