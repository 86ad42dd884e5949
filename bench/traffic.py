"""Simulated traffic and what Prometheus would show of it, in virtual time, with real noise.

A service receives Poisson arrivals at ``rate`` requests per second, split between the
stable and the canary version by the current weight and, inside a version, evenly over its
pods (``STABLE_PODS`` and ``CANARY_PODS``). Each version has an error probability and a
latency distribution (Istio's histogram buckets). The world is not the one the sequential
test was derived in; ``Noise`` adds what real traffic does:

- **shared incidents**: every ``incident_every`` seconds (random phase), ``incident_seconds``
  at ``incident_errors`` on every pod of both versions (a dependency failing);
- **retries**: each failed request is attempted 2 or 3 times, and a ``reporter="destination"``
  series counts every attempt, while ``reporter="source"`` counts what the caller saw;
- **overdispersion**: a per-minute, per-pod Gamma multiplier (mean 1) on the error rate
  (noise lives in pods and their dependencies, not in the version's label);
- **pod bursts**: each pod independently enters bursts of ``pod_burst_errors`` errors lasting
  ``pod_burst_seconds`` on average (a two-state Markov chain, one burst per
  ``pod_burst_every`` seconds on average);
- **skew**: per-pod error-rate multipliers (log-normal, mean 1), fixed for the run;
- **a late stable series**: one stable pod's samples reach Prometheus ``late_seconds`` late.

Stable also has a past: ``HISTORY_SECONDS`` of traffic before the rollout, all on stable,
from the same noise (pods, skew, burst chain and incidents continue into the rollout),
read as the look-back range query reads it (each pod's counter at its last scrape before
every minute step). ``Noise.quiet_history`` draws that past without the noise: the last
hour happened to be quiet and the noise comes during the rollout.

A version can also have one pod worse than the others (``Version.first_pod_errors``).

Time advances in whole seconds, a block at a time between controller ticks (the weight is
constant inside a block), with numpy drawing every second and pod of a minute at once while
the weight stays put.
Every pod is scraped every 15 seconds at its own phase; the view answers only from scraped
samples, each with its timestamp, as Prometheus does.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from bench.prometheus_reads import (
    BUCKETS_MS,
    HISTORY_SECONDS,
    SCRAPE_SECONDS,
    last_samples,
    look_back,
    window_span,
)

SLOW_BUCKET_MS = 250.0
STABLE_PODS = 6
CANARY_PODS = 2
VERSIONS = ("stable", "canary")
_Z99 = 2.3263478740408408
_SLOW_INDEX = BUCKETS_MS.index(SLOW_BUCKET_MS)
DRAW_SECONDS = 60
"""Seconds of traffic drawn at once while the weight stays put."""

# per-pod counter fields: caller-seen requests and errors (reporter="source"), every attempt
# (reporter="destination"), and requests slower than the SLO bucket
REQUESTS, ERRORS, ATTEMPTS, ATTEMPT_ERRORS, SLOW = range(5)
FIELDS = 5


@dataclasses.dataclass(frozen=True)
class Latency:
    """Request durations in milliseconds: log-normal (median, p99) or a Lomax heavy tail."""

    median_ms: float
    p99_ms: float
    tail_shape: float | None = None
    """Lomax (Pareto II) shape; None for log-normal. Small shapes mean heavy tails."""

    def survival(self, ms: float) -> float:
        """P(duration > ms)."""
        if self.tail_shape is not None:
            # (1 + ms/s)^-a with the scale s set by the p99
            scale = self.p99_ms / (100.0 ** (1.0 / self.tail_shape) - 1.0)
            return float((1.0 + ms / scale) ** -self.tail_shape)
        sigma = math.log(self.p99_ms / self.median_ms) / _Z99
        return 0.5 * math.erfc(math.log(ms / self.median_ms) / (sigma * math.sqrt(2)))

    def bucket_probabilities(self) -> np.ndarray:
        """Probability of each bucket (the last one is ``+Inf``), summing to 1."""
        cdf = [1.0 - self.survival(b) for b in BUCKETS_MS]
        return np.diff(np.array([0.0, *cdf, 1.0]))

    def slow_probability(self) -> float:
        """P(duration > the SLO bucket), as the slow-request policy counts it."""
        return self.survival(SLOW_BUCKET_MS)

    def scaled(self, factor: float) -> Latency:
        return Latency(self.median_ms * factor, self.p99_ms * factor, self.tail_shape)


@dataclasses.dataclass(frozen=True)
class Version:
    error_probability: float
    latency: Latency
    first_pod_errors: float | None = None
    """The error probability of the version's first pod, when it differs (a bad node)."""


@dataclasses.dataclass(frozen=True)
class Noise:
    """What real traffic adds to independent errors; the defaults add nothing."""

    incident_every: float | None = None
    incident_seconds: float = 10.0
    incident_errors: float = 0.2
    retries: bool = False
    overdispersion_shape: float | None = None
    pod_burst_every: float | None = None
    pod_burst_seconds: float = 20.0
    pod_burst_errors: float = 0.1
    skew_sigma: float = 0.0
    late_seconds: int = 0
    quiet_history: bool = False  # stable's hour before the rollout without this noise


def error_probabilities(
    rng: np.random.Generator, noise: Noise, base: float, pods: int, horizon: int
) -> np.ndarray:
    """Each pod's error probability in each second, shape ``(horizon, pods)``."""
    probability = np.full((horizon, pods), base)
    if noise.skew_sigma > 0:
        sigma = noise.skew_sigma
        probability *= rng.lognormal(-sigma * sigma / 2, sigma, size=pods)
    if noise.overdispersion_shape is not None:
        shape = noise.overdispersion_shape
        minutes = rng.gamma(shape, 1.0 / shape, size=(horizon // 60 + 1, pods))
        probability *= np.repeat(minutes, 60, axis=0)[:horizon]
    if noise.pod_burst_every is not None:
        bursting = np.zeros((horizon, pods), dtype=bool)
        for pod in range(pods):
            second = rng.exponential(noise.pod_burst_every)
            while second < horizon:
                length = rng.exponential(noise.pod_burst_seconds)
                bursting[int(second) : int(second + length) + 1, pod] = True
                second += length + rng.exponential(noise.pod_burst_every)
        probability = np.where(
            bursting, np.maximum(probability, noise.pod_burst_errors), probability
        )
    capped: np.ndarray = np.minimum(probability, 1.0)
    return capped


def incident_mask(rng: np.random.Generator, noise: Noise, horizon: int) -> np.ndarray:
    """Seconds inside a shared incident, shape ``(horizon,)``."""
    mask = np.zeros(horizon, dtype=bool)
    if noise.incident_every is None:
        return mask
    every = int(noise.incident_every)
    start = int(rng.integers(0, every))
    for begin in range(start, horizon, every):
        mask[begin : begin + int(noise.incident_seconds)] = True
    return mask


class Service:
    """Both versions' true cumulative counters per pod and per second, advanced in blocks."""

    def __init__(
        self,
        rng: np.random.Generator,
        *,
        rate: float,
        stable: Version,
        canary: Version,
        noise: Noise = Noise(),
        horizon: int,
        pods: tuple[int, int] = (STABLE_PODS, CANARY_PODS),
    ) -> None:
        self.rng = rng
        self.rate = rate
        self.noise = noise
        self.horizon = horizon
        self.now = 0
        self.versions = {"stable": stable, "canary": canary}
        self.pods = {"stable": pods[0], "canary": pods[1]}
        past = HISTORY_SECONDS
        incident = incident_mask(rng, noise, past + horizon)
        self.error_probability = {}
        for name, version in self.versions.items():
            probability = error_probabilities(
                rng, noise, version.error_probability, self.pods[name], past + horizon
            )
            if version.first_pod_errors is not None:
                probability[:, 0] = version.first_pod_errors
            probability[incident] = np.maximum(probability[incident], noise.incident_errors)
            if noise.quiet_history:
                probability[:past] = version.error_probability
            self.error_probability[name] = probability[past:]
            if name == "stable":
                self._past_probability = probability[:past]
        self.buckets = {name: v.latency.bucket_probabilities() for name, v in self.versions.items()}
        self.cumulative = {
            name: np.zeros((horizon + 1, pods, FIELDS)) for name, pods in self.pods.items()
        }
        self.histogram = {name: np.zeros((horizon + 1, len(BUCKETS_MS) + 1)) for name in VERSIONS}
        self.drawn = 0
        self.drawn_weight = -1.0
        self.draw_starts: list[int] = []
        """Where each draw began: what a view derived past one of these is stale."""
        # stable's hour is drawn from a stream of its own, when first read: only the
        # analysis that reads it pays for it, and every controller sees the same rollout
        self._past_rng = np.random.default_rng(int(rng.integers(2**63)))
        self._past: np.ndarray | None = None

    @property
    def past(self) -> np.ndarray:
        """Stable's cumulative counters per second before the rollout, shape
        ``(HISTORY_SECONDS + 1, pods, FIELDS)``: all traffic on stable."""
        if self._past is None:
            self._past = self._draw_past()
        return self._past

    def _draw_past(self) -> np.ndarray:
        probability, version = self._past_probability, self.versions["stable"]
        seconds, pods = probability.shape
        rng = self._past_rng
        requests = rng.poisson(self.rate / pods, size=(seconds, pods))
        errors = rng.binomial(requests, probability)
        attempt_errors = errors
        if self.noise.retries:
            attempt_errors = errors + errors + rng.binomial(errors, 0.5)
        per_second = np.zeros((seconds + 1, pods, FIELDS))
        per_second[1:, :, REQUESTS] = requests
        per_second[1:, :, ERRORS] = errors
        per_second[1:, :, ATTEMPTS] = requests + (attempt_errors - errors)
        per_second[1:, :, ATTEMPT_ERRORS] = attempt_errors
        per_second[1:, :, SLOW] = rng.binomial(requests, version.latency.slow_probability())
        past: np.ndarray = np.cumsum(per_second, axis=0)
        return past

    def advance(self, canary_weight: float, seconds: int) -> None:
        """``seconds`` of traffic at ``canary_weight`` percent on the canary.

        Traffic is drawn ``DRAW_SECONDS`` ahead at the current weight (fewer, larger numpy
        draws); a weight change throws away what was drawn past ``now`` and draws again.
        Nothing reads the counters past ``now``.
        """
        seconds = min(seconds, self.horizon - self.now)
        if seconds <= 0:
            return
        end = self.now + seconds
        if end > self.drawn or canary_weight != self.drawn_weight:
            self.drawn = min(self.horizon, max(end, self.now + DRAW_SECONDS))
            self.drawn_weight = canary_weight
            self.draw_starts.append(self.now)
            self._draw(canary_weight, self.now, self.drawn)
        self.now = end

    def _draw(self, canary_weight: float, begin: int, end: int) -> None:
        """Traffic for the seconds ``begin`` to ``end`` at ``canary_weight``."""
        seconds = end - begin
        share = canary_weight / 100.0
        for name, fraction in (("canary", share), ("stable", 1.0 - share)):
            pods = self.pods[name]
            cumulative = self.cumulative[name]
            hist = self.histogram[name]
            requests = (
                self.rng.poisson(self.rate * fraction / pods, size=(seconds, pods))
                if fraction > 0
                else None
            )
            if requests is None or not requests.any():
                # nothing served in the block (low traffic): the counters stand still
                cumulative[begin + 1 : end + 1] = cumulative[begin]
                hist[begin + 1 : end + 1] = hist[begin]
                continue
            errors = self.rng.binomial(requests, self.error_probability[name][begin:end])
            attempt_errors = errors
            if self.noise.retries:
                # every failed request is tried 2 or 3 times; each attempt fails
                attempt_errors = errors + errors + self.rng.binomial(errors, 0.5)
            # one draw for every second and pod of the block (a pod without requests fills
            # no bucket); the histogram is kept per version
            buckets = self.rng.multinomial(requests, self.buckets[name])
            per_second = np.empty((seconds, pods, FIELDS))
            per_second[..., REQUESTS] = requests
            per_second[..., ERRORS] = errors
            per_second[..., ATTEMPTS] = requests + (attempt_errors - errors)
            per_second[..., ATTEMPT_ERRORS] = attempt_errors
            per_second[..., SLOW] = buckets[..., _SLOW_INDEX + 1 :].sum(axis=-1)
            np.cumsum(per_second, axis=0, out=per_second)
            cumulative[begin + 1 : end + 1] = cumulative[begin] + per_second
            hist[begin + 1 : end + 1] = hist[begin] + np.cumsum(buckets.sum(axis=1), axis=0)


@dataclasses.dataclass(frozen=True)
class Counters:
    """Counts over a window: requests, errors (as one reporter counts them) and buckets."""

    total: float
    errors: float
    buckets: np.ndarray


class PrometheusView:
    """What Prometheus holds: each pod's counters at its scrapes, with sample timestamps."""

    def __init__(self, rng: np.random.Generator, service: Service) -> None:
        self.service = service
        self.phase = {
            name: rng.integers(0, SCRAPE_SECONDS, size=pods).tolist()
            for name, pods in service.pods.items()
        }
        self.lag = {name: [0] * pods for name, pods in service.pods.items()}
        self.lag["stable"][0] = service.noise.late_seconds
        self._answers: dict[tuple[str, int, int, int], dict[str, tuple[float, float]]] = {}
        self._times: dict[str, list[int]] = {}
        self._rows_key: dict[str, tuple[str, int, int]] = {}
        self._rows_cache: dict[str, list[tuple[str, tuple[list[float], float]]]] = {}
        self._stamps_cache: dict[str, dict[str, float]] = {}
        self._times_key: dict[str, tuple[str, int, int]] = {}

    def sample_times(self, version: str, now: float) -> np.ndarray:
        """Each pod's last visible sample time at ``now`` (-1 before its first scrape)."""
        return np.array(self._sample_list(version, now))

    def _sample_list(self, version: str, now: float) -> list[int]:
        key = (version, int(now), self.service.now)
        if key != self._times_key.get(version):
            # plain integers: a handful of pods, asked every tick
            self._times_key[version] = key
            self._times[version] = last_samples(
                self.phase[version], self.lag[version], now, self.service.now
            )
        return self._times[version]

    def history(self, field: int, now: float) -> dict[str, tuple[tuple[float, float], ...]]:
        """Stable's look-back at ``now`` (the rollout's start, 0): each pod's counter at its
        last scrape before every ``HISTORY_STEP`` of the hour, as a range query returns."""
        past = self.service.past[:, :, field]
        return {
            f"pod=stable-{pod}": look_back(past[:, pod], phase, lag, now)
            for pod, (phase, lag) in enumerate(
                zip(self.phase["stable"], self.lag["stable"], strict=True)
            )
        }

    def pod_series(self, version: str, field: int, now: float) -> dict[str, tuple[float, float]]:
        """``series`` per destination pod, whatever a subclass answers ``series`` with."""
        return PrometheusView.series(self, version, field, now)

    def pod_history(self, field: int, now: float) -> dict[str, tuple[tuple[float, float], ...]]:
        """``history`` per destination (stable) pod, whatever a subclass answers."""
        return PrometheusView.history(self, field, now)

    def counters(
        self, version: str, field: int, now: float
    ) -> tuple[dict[str, float], dict[str, float]]:
        """``series`` as a reading holds it: the values, and the sample times (one dict per
        version and tick, shared by every field)."""
        rows = self._rows(version, now)
        return {pod: row[field] for pod, (row, _) in rows}, self._stamps_cache[version]

    def pod_counters(
        self, version: str, field: int, now: float
    ) -> tuple[dict[str, float], dict[str, float]]:
        """``counters`` per destination pod, whatever a subclass answers ``counters`` with."""
        return PrometheusView.counters(self, version, field, now)

    def series(self, version: str, field: int, now: float) -> dict[str, tuple[float, float]]:
        """``{pod: (value, sample time)}`` of one counter field, as an instant query returns."""
        key = (version, field, int(now), self.service.now)
        answer = self._answers.get(key)
        if answer is None:
            # a tick asks for the same series several times (one per policy): answer once
            if len(self._answers) > 64:
                self._answers.clear()
            answer = {pod: (row[field], time) for pod, (row, time) in self._rows(version, now)}
            self._answers[key] = answer
        return answer

    def _rows(self, version: str, now: float) -> list[tuple[str, tuple[list[float], float]]]:
        """Every scraped pod's counters at its last sample, read once per tick and version."""
        key = (version, int(now), self.service.now)
        if self._rows_key.get(version) != key:
            times = self._sample_list(version, now)
            seen = [pod for pod, time in enumerate(times) if time >= 0]
            rows = self.service.cumulative[version][[times[pod] for pod in seen], seen].tolist()
            self._rows_key[version] = key
            self._rows_cache[version] = [
                (f"pod={version}-{pod}", (row, float(times[pod])))
                for pod, row in zip(seen, rows, strict=True)
                if row[REQUESTS] > 0
            ]
            self._stamps_cache[version] = {
                pod: time for pod, (_, time) in self._rows_cache[version]
            }
        return self._rows_cache[version]

    def window(
        self, version: str, now: float, seconds: float, *, destination: bool
    ) -> Counters | None:
        """Increase over the trailing window (first to last sample of each pod inside it)."""
        last = self.sample_times(version, now)
        first, usable = window_span(last, self.phase[version], now, seconds)
        if not usable.any():
            return None
        cumulative = self.service.cumulative[version]
        pods = np.nonzero(usable)[0]
        increase = cumulative[last[pods], pods] - cumulative[first[pods], pods]
        total = float(increase[:, ATTEMPTS if destination else REQUESTS].sum())
        errors = float(increase[:, ATTEMPT_ERRORS if destination else ERRORS].sum())
        # the histogram is kept per version: take it over the pods' common span
        histogram = self.service.histogram[version]
        buckets = histogram[int(last.max())] - histogram[int(first[pods].min())]
        return Counters(total, errors, buckets)
