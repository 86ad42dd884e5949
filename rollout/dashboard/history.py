"""The live chart's memory: recent samples per rollout, kept in the process.

The Rollout's status holds only the present (weight, last verdict); the chart needs the
recent past. Each page's event stream samples its rollout every few seconds and records
the point here, so a page opened later starts with what the process has seen, and two
pages on one rollout share one series. Bounded per rollout; lost on restart (the status,
the Events and the alerts stay the record of what happened).
"""

from __future__ import annotations

import threading
from collections import deque

from rollout.dashboard.views import ChartPoint

__all__ = ["History"]


class History:
    def __init__(self, *, points: int = 720, min_gap: float = 0.5) -> None:
        self._points = points
        self._min_gap = min_gap
        self._series: dict[str, deque[ChartPoint]] = {}
        self._lock = threading.Lock()

    def record(self, key: str, point: ChartPoint) -> bool:
        """Add ``point`` unless one was recorded less than ``min_gap`` seconds before it
        (several pages on one rollout sample it at once); True when added."""
        with self._lock:
            series = self._series.setdefault(key, deque(maxlen=self._points))
            if series and point.at - series[-1].at < self._min_gap:
                return False
            series.append(point)
            return True

    def since(self, key: str, at: float) -> list[ChartPoint]:
        """The points recorded after ``at``, oldest first."""
        with self._lock:
            return [point for point in self._series.get(key, ()) if point.at > at]
