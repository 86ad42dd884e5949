"""What Prometheus holds under ``reporter="source"``: one series per *calling* pod.

The shipped policies count what the caller saw (``reporter="source"``), so the series they
``sum by (pod)`` are scraped from the callers' sidecars: ``pod`` names a calling pod (a
gateway replica, a pod of a calling service), and each caller's counts mix every pod of the
version it called. Istio's metrics under that reporter carry no destination pod.
``PrometheusView`` answers per *destination* pod, which only ``reporter="destination"``
gives, attempts and all; ``CallerView`` answers the caller-seen fields (requests, errors,
slow requests) per caller, as the shipped policies read them, and the attempt fields per
destination pod, as a ``reporter="destination"`` policy reads them:

- ``callers`` calling pods, each scraped every 15 s at its own phase, both versions in the
  same scrape (so a late caller is late for canary and stable alike);
- each caller sees an equal share of every destination pod's requests (the proportional
  split), so a burst on one canary pod shows in every caller's series, as it does in a
  mesh whose callers balance over the canary's pods.

What it leaves out: the per-caller randomness of which pod serves which request (it
matters only at a handful of requests per caller), and callers whose traffic differs.
"""

from __future__ import annotations

import numpy as np

from bench.prometheus_reads import SCRAPE_SECONDS, look_back
from bench.traffic import (
    ATTEMPT_ERRORS,
    ATTEMPTS,
    ERRORS,
    REQUESTS,
    Counters,
    PrometheusView,
    Service,
)

__all__ = ["CALLERS", "CallerView"]

CALLERS = 4
"""Calling pods: two ingress gateway replicas and two pods of a calling service."""

DESTINATION_FIELDS = (ATTEMPTS, ATTEMPT_ERRORS)
"""The fields only ``reporter="destination"`` counts: per destination pod."""


class CallerView(PrometheusView):
    """``PrometheusView`` with the caller-seen fields per calling pod."""

    def __init__(self, rng: np.random.Generator, service: Service, callers: int = CALLERS) -> None:
        super().__init__(rng, service)
        self.callers = callers
        self.caller_phase: list[int] = rng.integers(0, SCRAPE_SECONDS, size=callers).tolist()
        self.caller_lag = [0] * callers
        # the late series of the misaligned world: a caller late for both versions alike
        self.caller_lag[0] = service.noise.late_seconds
        self._caller_answers: dict[tuple[str, int, int, int], dict[str, tuple[float, float]]] = {}

    def caller_times(self, now: float) -> list[int]:
        """Each caller's last visible sample time at ``now`` (-1 before its first scrape)."""
        newest = self.service.now
        times = []
        for phase, lag in zip(self.caller_phase, self.caller_lag, strict=True):
            visible = int(now) - lag - phase
            sample = phase + (visible // SCRAPE_SECONDS) * SCRAPE_SECONDS
            times.append(min(sample, newest) if visible >= 0 else -1)
        return times

    def series(self, version: str, field: int, now: float) -> dict[str, tuple[float, float]]:
        if field in DESTINATION_FIELDS:
            return super().series(version, field, now)
        key = (version, field, int(now), self.service.now)
        answer = self._caller_answers.get(key)
        if answer is None:
            if len(self._caller_answers) > 64:
                self._caller_answers.clear()
            shared = self.service.cumulative[version][:, :, field].sum(axis=1) / self.callers
            answer = {
                f"pod=caller-{caller}": (float(shared[time]), float(time))
                for caller, time in enumerate(self.caller_times(now))
                if time >= 0 and shared[time] > 0
            }
            self._caller_answers[key] = answer
        return answer

    def window(
        self, version: str, now: float, seconds: float, *, destination: bool
    ) -> Counters | None:
        """Increase over the trailing window, from each caller's first to last sample in it."""
        if destination:
            return super().window(version, now, seconds, destination=True)
        last = np.array(self.caller_times(now))
        first = last - ((last - int(now - seconds)) // SCRAPE_SECONDS) * SCRAPE_SECONDS
        first = np.maximum(first, np.array(self.caller_phase))
        usable = (last >= 0) & (first < last)
        if not usable.any():
            return None
        shared = self.service.cumulative[version].sum(axis=1) / self.callers
        callers = np.nonzero(usable)[0]
        increase = shared[last[callers]] - shared[first[callers]]
        histogram = self.service.histogram[version]
        buckets = histogram[int(last.max())] - histogram[int(first[callers].min())]
        return Counters(
            float(increase[:, REQUESTS].sum()), float(increase[:, ERRORS].sum()), buckets
        )

    def history(self, field: int, now: float) -> dict[str, tuple[tuple[float, float], ...]]:
        """Stable's look-back per caller: its share of stable's counters at its last scrape
        before every ``HISTORY_STEP`` of the hour."""
        if field in DESTINATION_FIELDS:
            return super().history(field, now)
        shared = self.service.past[:, :, field].sum(axis=1) / self.callers
        return {
            f"pod=caller-{caller}": look_back(shared, phase, lag, now)
            for caller, (phase, lag) in enumerate(
                zip(self.caller_phase, self.caller_lag, strict=True)
            )
        }
