"""What Prometheus holds under ``reporter="source"``: one series per *calling* pod.

The shipped policies count what the caller saw (``reporter="source"``), so the series they
``sum by (pod)`` are scraped from the callers' sidecars: ``pod`` names a calling pod (a
gateway replica, a pod of another service), and each caller's counts mix every pod of the
version it called. ``PrometheusView`` answers per *destination* pod, which is what
``reporter="destination"`` gives, attempts and all; ``CallerView`` answers what the shipped
policies really read:

- ``CALLERS`` calling pods, each scraped every 15 s at its own phase, both versions in the
  same scrape (so a late caller is late for canary and stable alike);
- each caller sees an equal share of every destination pod's requests (the proportional
  split: a caller's counts are the version's counts over ``CALLERS``, so a burst on one
  canary pod shows in every caller's series, as it does in a mesh whose callers balance
  over the canary's pods).

What it leaves out: the per-caller randomness of which pod serves which request (it
matters only at a handful of requests per caller), and callers whose traffic differs.
"""

from __future__ import annotations

import numpy as np

from bench.traffic import (
    ATTEMPT_ERRORS,
    ATTEMPTS,
    ERRORS,
    REQUESTS,
    SCRAPE_SECONDS,
    Counters,
    PrometheusView,
    Service,
)

__all__ = ["CALLERS", "CallerView"]

CALLERS = 4
"""Calling pods: two ingress gateway replicas and two pods of a calling service."""


class CallerView(PrometheusView):
    """``PrometheusView`` with series per calling pod instead of per destination pod."""

    def __init__(self, rng: np.random.Generator, service: Service, callers: int = CALLERS) -> None:
        super().__init__(rng, service)
        self.callers = callers
        phases = rng.integers(0, SCRAPE_SECONDS, size=callers).tolist()
        lags = [0] * callers
        lags[0] = service.noise.late_seconds
        # one scrape of a caller holds both versions' counters
        self.phase = {name: phases for name in service.pods}
        self.lag = {name: lags for name in service.pods}

    def _caller_counters(self, version: str) -> np.ndarray:
        # the service fills its cumulative arrays as it draws: share them out on demand
        shared: np.ndarray = self.service.cumulative[version].sum(axis=1) / self.callers
        return shared

    def _rows(self, version: str, now: float) -> list[tuple[str, tuple[list[float], float]]]:
        key = (version, int(now), self.service.now)
        if self._rows_key.get(version) != key:
            times = self._sample_list(version, now)
            seen = [caller for caller, time in enumerate(times) if time >= 0]
            cumulative = self.service.cumulative[version]
            rows = [
                (cumulative[times[caller]].sum(axis=0) / self.callers).tolist() for caller in seen
            ]
            self._rows_key[version] = key
            self._rows_cache[version] = [
                (f"pod=caller-{caller}", (row, float(times[caller])))
                for caller, row in zip(seen, rows, strict=True)
                if row[REQUESTS] > 0
            ]
        return self._rows_cache[version]

    def window(
        self, version: str, now: float, seconds: float, *, destination: bool
    ) -> Counters | None:
        """Increase over the trailing window, from each caller's first to last sample in it."""
        last = self.sample_times(version, now)
        first = last - ((last - int(now - seconds)) // SCRAPE_SECONDS) * SCRAPE_SECONDS
        first = np.maximum(first, np.array(self.phase[version]))
        usable = (last >= 0) & (first < last)
        if not usable.any():
            return None
        shared = self._caller_counters(version)
        callers = np.nonzero(usable)[0]
        increase = shared[last[callers]] - shared[first[callers]]
        total = float(increase[:, ATTEMPTS if destination else REQUESTS].sum())
        errors = float(increase[:, ATTEMPT_ERRORS if destination else ERRORS].sum())
        histogram = self.service.histogram[version]
        buckets = histogram[int(last.max())] - histogram[int(first[callers].min())]
        return Counters(total, errors, buckets)
