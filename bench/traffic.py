"""Simulated traffic and what Prometheus would show of it, in virtual time.

A service receives Poisson arrivals at ``rate`` requests per second, split between the
stable and the canary version by the current weight. Each version has its own error
probability and latency distribution (log-normal, summarised into Istio's histogram
buckets). The simulation advances in one-second steps, so a weight change takes effect
within a second, and every version's counters are *scraped* every 15 seconds at its own
random phase: every policy, ours and the baselines alike, sees only scraped values, which
is the telemetry lag of a real Prometheus.

``PrometheusView`` answers what the policies ask: cumulative counters as of the last
scrape, success ratios over a trailing window (``rate()`` over ``[1m]``; the ratio of two
rates does not depend on ``increase()``'s extrapolation), and ``histogram_quantile`` over
a trailing window with Prometheus' own linear interpolation inside buckets.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

BUCKETS_MS = (1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0)
SLOW_BUCKET_MS = 250.0
SCRAPE_SECONDS = 15.0
_Z99 = 2.3263478740408408


@dataclasses.dataclass(frozen=True)
class Latency:
    """A log-normal latency with the given median and 99th percentile, in milliseconds."""

    median_ms: float
    p99_ms: float

    def bucket_probabilities(self) -> np.ndarray:
        """Probability of each bucket (the last one is ``+Inf``), summing to 1."""
        sigma = math.log(self.p99_ms / self.median_ms) / _Z99
        cdf = [
            0.5 * (1 + math.erf(math.log(b / self.median_ms) / (sigma * math.sqrt(2))))
            for b in BUCKETS_MS
        ]
        edges = np.array([0.0, *cdf, 1.0])
        return np.diff(edges)

    def slow_probability(self) -> float:
        """P(duration > the SLO bucket), as the slow-request policy counts it."""
        sigma = math.log(self.p99_ms / self.median_ms) / _Z99
        z = math.log(SLOW_BUCKET_MS / self.median_ms) / sigma
        return 0.5 * math.erfc(z / math.sqrt(2))

    def scaled(self, factor: float) -> Latency:
        return Latency(self.median_ms * factor, self.p99_ms * factor)


@dataclasses.dataclass(frozen=True)
class Version:
    error_probability: float
    latency: Latency


@dataclasses.dataclass
class Counters:
    """Cumulative counters of one version: requests, errors and histogram buckets."""

    total: float = 0.0
    errors: float = 0.0
    buckets: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(len(BUCKETS_MS) + 1))

    def copy(self) -> Counters:
        return Counters(self.total, self.errors, self.buckets.copy())

    @property
    def slow(self) -> float:
        """Requests slower than the SLO bucket (``_count - _bucket{le="250"}``)."""
        index = BUCKETS_MS.index(SLOW_BUCKET_MS)
        return float(self.total - self.buckets[: index + 1].sum())


class Service:
    """Both versions' true counters, advanced one second at a time."""

    def __init__(self, rng: np.random.Generator, *, rate: float, stable: Version, canary: Version):
        self.rng = rng
        self.rate = rate
        self.versions = {"stable": stable, "canary": canary}
        self.probabilities = {
            name: version.latency.bucket_probabilities() for name, version in self.versions.items()
        }
        self.counters = {"stable": Counters(), "canary": Counters()}

    def advance(self, canary_weight: float) -> None:
        """One second of traffic at ``canary_weight`` percent on the canary."""
        share = canary_weight / 100.0
        for name, fraction in (("canary", share), ("stable", 1.0 - share)):
            if fraction <= 0:
                continue
            arrivals = int(self.rng.poisson(self.rate * fraction))
            if arrivals == 0:
                continue
            counters = self.counters[name]
            counters.total += arrivals
            counters.errors += int(
                self.rng.binomial(arrivals, self.versions[name].error_probability)
            )
            counters.buckets += self.rng.multinomial(arrivals, self.probabilities[name])


class PrometheusView:
    """What Prometheus holds: each version's counters at its scrapes, 15 s apart."""

    def __init__(self, rng: np.random.Generator, service: Service) -> None:
        self.service = service
        self.phase = {name: float(rng.uniform(0, SCRAPE_SECONDS)) for name in service.counters}
        self.scrapes: dict[str, list[tuple[float, Counters]]] = {n: [] for n in service.counters}

    def after_second(self, now: float) -> None:
        """Record a scrape of each version whose scrape time fell in ``(now - 1, now]``."""
        for name, phase in self.phase.items():
            if (now - phase) % SCRAPE_SECONDS < 1.0 and now >= phase:
                self.scrapes[name].append((now, self.service.counters[name].copy()))
                if len(self.scrapes[name]) > 12:
                    del self.scrapes[name][0]

    def latest(self, name: str) -> Counters | None:
        """Counters at the last scrape; None before the first scrape with any request."""
        scrapes = self.scrapes[name]
        if not scrapes or scrapes[-1][1].total <= 0:
            return None
        return scrapes[-1][1]

    def window(self, name: str, now: float, seconds: float) -> Counters | None:
        """Increase over the trailing window (first to last scrape inside it), or None."""
        inside = [c for t, c in self.scrapes[name] if now - seconds <= t <= now]
        if len(inside) < 2:
            return None
        first, last = inside[0], inside[-1]
        return Counters(
            last.total - first.total, last.errors - first.errors, last.buckets - first.buckets
        )


def histogram_quantile(quantile: float, buckets: np.ndarray) -> float:
    """Prometheus' ``histogram_quantile`` on per-bucket counts (the last bucket is +Inf)."""
    cumulative = np.cumsum(buckets)
    total = float(cumulative[-1])
    if total <= 0:
        return math.nan
    rank = quantile * total
    index = int(np.searchsorted(cumulative, rank, side="left"))
    if index >= len(BUCKETS_MS):
        return BUCKETS_MS[-1]
    upper = BUCKETS_MS[index]
    lower = 0.0 if index == 0 else BUCKETS_MS[index - 1]
    below = 0.0 if index == 0 else float(cumulative[index - 1])
    inside = float(cumulative[index]) - below
    if inside <= 0:
        return upper
    return lower + (upper - lower) * (rank - below) / inside
