"""What Prometheus holds under ``reporter="source"``: one series per *calling* pod.

The shipped policies count what the caller saw (``reporter="source"``), so the series they
``sum by (pod)`` are scraped from the callers' sidecars: ``pod`` names a calling pod (a
gateway replica, a pod of a calling service), and each caller's counts mix every pod of the
version it called. Istio's metrics under that reporter carry no destination pod.
``PrometheusView`` answers per *destination* pod, which only ``reporter="destination"``
gives, attempts and all; ``CallerView`` answers the caller-seen fields (requests, errors,
slow requests) per caller, as the shipped policies' counts read them, and the attempt
fields per destination pod, as a ``reporter="destination"`` policy reads them. Its
``pod_series`` and ``pod_history`` (inherited) answer per destination pod whatever the
field: what the shipped policies' ``podErrors``/``podSlow``/``podTotal`` queries read
(attempts where the world retries):

- ``callers`` calling pods, each scraped every 15 s at its own phase, both versions in the
  same scrape (so a late caller is late for canary and stable alike);
- each request comes from a caller drawn at random (binomial thinning of every pod's
  requests, errors and slow requests, second by second), so a burst on one canary pod shows
  in every caller's series, as it does in a mesh whose callers balance over the canary's
  pods, and each caller's counts keep the noise of independent requests.

What it leaves out: callers whose traffic differs (one caller sending most requests, or
calling one pod more than another). A request's slowness is split apart from its status,
so a caller's slow and failed requests are not the same requests.
"""

from __future__ import annotations

import numpy as np

from bench.prometheus_reads import SCRAPE_SECONDS, last_samples, look_back, window_span
from bench.traffic import (
    ATTEMPT_ERRORS,
    ATTEMPTS,
    ERRORS,
    FIELDS,
    REQUESTS,
    SLOW,
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
        # a generator of its own: the per-pod traffic draws the same numbers either way
        self._split_rng = np.random.default_rng(rng.integers(2**63))
        self.caller_phase: list[int] = rng.integers(0, SCRAPE_SECONDS, size=callers).tolist()
        self.caller_lag = [0] * callers
        # the late series of the misaligned world: a caller late for both versions alike
        self.caller_lag[0] = service.noise.late_seconds
        self._caller_rows_key: dict[str, tuple[str, int, int]] = {}
        self._caller_rows_cache: dict[str, list[tuple[str, list[float], float]]] = {}
        self._caller_stamps: dict[str, dict[str, float]] = {}
        # per caller, cumulative: (seconds + 1, callers, FIELDS), filled up to ``_split_to``
        self._by_caller = {
            name: np.zeros((service.horizon + 1, callers, FIELDS)) for name in service.pods
        }
        self._split_to = dict.fromkeys(service.pods, 0)
        self._draws_seen = 0
        self._past: np.ndarray | None = None  # split when the look-back is first read
        self._times_at: tuple[int, int] | None = None
        self._caller_times: list[int] = []

    def _split(self, increments: np.ndarray) -> np.ndarray:
        """Per-pod increments ``(seconds, pods, FIELDS)`` dealt to random callers and summed
        over pods: ``(seconds, callers, FIELDS)``."""
        counts = np.rint(increments).astype(np.int64)
        out = np.zeros((counts.shape[0], self.callers, FIELDS))
        errors = self._deal(counts[..., ERRORS])
        fine = self._deal(counts[..., REQUESTS] - counts[..., ERRORS])
        out[..., ERRORS] = errors.sum(axis=1)
        out[..., REQUESTS] = (errors + fine).sum(axis=1)
        slow = self._deal(counts[..., SLOW]).sum(axis=1)
        out[..., SLOW] = np.minimum(slow, out[..., REQUESTS])
        return out

    def _deal(self, counts: np.ndarray) -> np.ndarray:
        """``counts`` ``(seconds, pods)`` dealt to the callers, ``(seconds, pods, callers)``.

        Nothing to deal (low traffic, no error in the block) skips the draw: a multinomial
        of no trials draws no random number, so the stream is the same either way.
        """
        if not counts.any():
            return np.zeros((*counts.shape, self.callers), dtype=np.int64)
        return self._split_rng.multinomial(counts, np.full(self.callers, 1.0 / self.callers))

    def _caller_counters(self, version: str) -> np.ndarray:
        """Each caller's cumulative counters, split up to what the service has drawn.

        The service draws its traffic ahead of its present, in blocks; splitting the whole
        block at once costs a few numpy calls instead of a few per tick. A new draw (a
        weight change) replaces what was drawn past its start, so the split past it is
        made again. Nothing reads past the service's present."""
        service = self.service
        starts = service.draw_starts
        if len(starts) > self._draws_seen:
            begin = min(starts[self._draws_seen :])
            self._draws_seen = len(starts)
            for name, done in self._split_to.items():
                self._split_to[name] = min(done, begin)
        done, end = self._split_to[version], max(service.drawn, service.now)
        if end > done:
            cumulative = service.cumulative[version]
            by_caller = self._by_caller[version]
            increments = cumulative[done + 1 : end + 1] - cumulative[done:end]
            if increments.any():
                split = self._split(increments)
                by_caller[done + 1 : end + 1] = by_caller[done] + np.cumsum(split, axis=0)
            else:
                by_caller[done + 1 : end + 1] = by_caller[done]
            self._split_to[version] = end
        return self._by_caller[version]

    def caller_times(self, now: float) -> list[int]:
        """Each caller's last visible sample time at ``now`` (-1 before its first scrape);
        asked once per field and version each tick, computed once."""
        key = (int(now), self.service.now)
        if key != self._times_at:
            self._times_at = key
            self._caller_times = last_samples(
                self.caller_phase, self.caller_lag, now, self.service.now
            )
        return self._caller_times

    def _caller_rows(self, version: str, now: float) -> list[tuple[str, list[float], float]]:
        """Every caller's counters at its last sample (callers with requests), and the sample
        times apart: read once per tick and version."""
        key = (version, int(now), self.service.now)
        if self._caller_rows_key.get(version) != key:
            counters = self._caller_counters(version)
            times = self.caller_times(now)
            seen = [caller for caller, time in enumerate(times) if time >= 0]
            rows = counters[[times[caller] for caller in seen], seen].tolist()
            kept = [
                (f"pod=caller-{caller}", row, float(times[caller]))
                for caller, row in zip(seen, rows, strict=True)
                if row[REQUESTS] > 0
            ]
            self._caller_rows_key[version] = key
            self._caller_rows_cache[version] = kept
            self._caller_stamps[version] = {name: time for name, _, time in kept}
        return self._caller_rows_cache[version]

    def series(self, version: str, field: int, now: float) -> dict[str, tuple[float, float]]:
        if field in DESTINATION_FIELDS:
            return super().series(version, field, now)
        return {name: (row[field], time) for name, row, time in self._caller_rows(version, now)}

    def counters(
        self, version: str, field: int, now: float
    ) -> tuple[dict[str, float], dict[str, float]]:
        if field in DESTINATION_FIELDS:
            return super().counters(version, field, now)
        rows = self._caller_rows(version, now)
        return {name: row[field] for name, row, _ in rows}, self._caller_stamps[version]

    def window(
        self, version: str, now: float, seconds: float, *, destination: bool
    ) -> Counters | None:
        """Increase over the trailing window, from each caller's first to last sample in it."""
        if destination:
            return super().window(version, now, seconds, destination=True)
        last = np.array(self.caller_times(now))
        first, usable = window_span(last, self.caller_phase, now, seconds)
        if not usable.any():
            return None
        counters = self._caller_counters(version)
        callers = np.nonzero(usable)[0]
        increase = counters[last[callers], callers] - counters[first[callers], callers]
        histogram = self.service.histogram[version]
        buckets = histogram[int(last.max())] - histogram[int(first[callers].min())]
        return Counters(
            float(increase[:, REQUESTS].sum()), float(increase[:, ERRORS].sum()), buckets
        )

    def history(self, field: int, now: float) -> dict[str, tuple[tuple[float, float], ...]]:
        """Stable's look-back per caller: its counters at its last scrape before every
        minute of the hour."""
        if field in DESTINATION_FIELDS:
            return super().history(field, now)
        if self._past is None:
            past = self.service.past
            self._past = np.zeros((past.shape[0], self.callers, FIELDS))
            self._past[1:] = np.cumsum(self._split(np.diff(past, axis=0)), axis=0)
        split = self._past
        return {
            f"pod=caller-{caller}": look_back(split[:, caller, field], phase, lag, now)
            for caller, (phase, lag) in enumerate(
                zip(self.caller_phase, self.caller_lag, strict=True)
            )
        }
