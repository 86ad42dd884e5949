"""The worlds the detection benchmark runs: traffic, both versions, and real traffic's noise.

Each scenario names a request rate, stable's and the canary's error rates and latencies,
whether the canary is bad (its rollback is the right outcome), the noise of
``bench/traffic.py`` and how long a run may last. ``with_noise`` makes the variants an
independent check runs (bursts once an hour, 30% bursts, ...) from the command line.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from bench.callers import CALLERS
from bench.traffic import CANARY_PODS, STABLE_PODS, Latency, Noise, Version
from rollout.analysis.sequential import wald_expected_sample_size

BASE_LATENCY = Latency(median_ms=40.0, p99_ms=100.0)
HORIZON_SECONDS = 40 * 60
"""A run that has neither promoted nor rolled back by then is counted as undecided."""
LOW_TRAFFIC_HORIZON_SECONDS = 3 * 60 * 60
"""At 1 req/s a canary at 10% sees 360 requests an hour: low-traffic runs get three hours."""


@dataclasses.dataclass(frozen=True)
class Scenario:
    name: str
    rate: float
    stable: Version
    canary: Version
    bad: bool
    noise: Noise = dataclasses.field(default_factory=Noise)
    horizon: int = HORIZON_SECONDS
    pods: tuple[int, int] = (STABLE_PODS, CANARY_PODS)
    """Stable's and the canary's pods."""
    callers: int = CALLERS
    """Calling pods whose sidecars report the caller-seen series (``bench/callers.py``);
    0 answers those series per destination pod instead, which Istio does not give."""

    def hypotheses(self) -> tuple[float, float] | None:
        """``(p0, p1)``: stable's and the canary's bad-request rates, for a bad canary."""
        if not self.bad:
            return None
        p0, p1 = self.stable.error_probability, self.canary.error_probability
        if self.canary.first_pod_errors is not None:
            pods = self.pods[1]
            p1 = (p1 * (pods - 1) + self.canary.first_pod_errors) / pods
        if p1 <= p0:
            p0, p1 = self.stable.latency.slow_probability(), self.canary.latency.slow_probability()
        return p0, p1

    def floor(self) -> float | None:
        """Wald's expected canary sample for this scenario's bad requests, or None."""
        rates = self.hypotheses()
        return None if rates is None else wald_expected_sample_size(*rates, alpha=0.01, beta=0.05)


def _version(errors: float, latency: Latency = BASE_LATENCY) -> Version:
    return Version(error_probability=errors, latency=latency)


INCIDENTS = Noise(incident_every=600, incident_seconds=10, incident_errors=0.2)
"""A dependency failing for 10 s at 20% errors every 10 minutes, for both versions."""
POD_BURSTS = Noise(pod_burst_every=900, pod_burst_seconds=20, pod_burst_errors=0.1)
"""Each pod bursts to 10% errors for 20 s on average, once per 15 minutes on average."""
BURSTY = dataclasses.replace(INCIDENTS, pod_burst_every=900, overdispersion_shape=1.0)
HEAVY_TAIL = Latency(median_ms=6.0, p99_ms=200.0, tail_shape=1.5)
"""Lomax latency with a true p99 of 200 ms: 2/3 of the 300 ms SLO, with a heavy tail."""
P99_200 = Latency(median_ms=40.0, p99_ms=200.0)

SCENARIOS = (
    Scenario("bad-5pct", 100.0, _version(0.001), _version(0.05), bad=True),
    Scenario("bad-1pct", 100.0, _version(0.001), _version(0.01), bad=True),
    Scenario("latency", 100.0, _version(0.001), _version(0.001, BASE_LATENCY.scaled(4)), bad=True),
    Scenario("healthy-0.1pct", 100.0, _version(0.001), _version(0.001), bad=False),
    Scenario("healthy-0.8pct", 100.0, _version(0.008), _version(0.008), bad=False),
    Scenario(
        "low-traffic",
        1.0,
        _version(0.001),
        _version(0.001),
        bad=False,
        horizon=LOW_TRAFFIC_HORIZON_SECONDS,
    ),
    Scenario("healthy-bursts", 100.0, _version(0.001), _version(0.001), False, INCIDENTS),
    Scenario(
        "healthy-retries", 100.0, _version(0.002), _version(0.002), False, Noise(retries=True)
    ),
    Scenario(
        "healthy-overdispersed",
        100.0,
        _version(0.001),
        _version(0.001),
        False,
        Noise(overdispersion_shape=0.25),
    ),
    Scenario("healthy-pod-bursts", 100.0, _version(0.001), _version(0.001), False, POD_BURSTS),
    Scenario(
        "healthy-pod-bursts-unseen",
        100.0,
        _version(0.001),
        _version(0.001),
        False,
        dataclasses.replace(POD_BURSTS, quiet_history=True),
    ),
    Scenario(
        "healthy-misaligned",
        100.0,
        _version(0.001),
        _version(0.001),
        False,
        Noise(incident_every=900, incident_seconds=15, incident_errors=0.4, late_seconds=40),
    ),
    Scenario(
        "healthy-heavy-tail",
        100.0,
        _version(0.001, HEAVY_TAIL),
        _version(0.001, HEAVY_TAIL),
        bad=False,
    ),
    Scenario("healthy-skew", 100.0, _version(0.002), _version(0.002), False, Noise(skew_sigma=0.8)),
    Scenario("bad-5pct-bursty", 100.0, _version(0.001), _version(0.05), True, BURSTY),
    Scenario(
        "latency-200-300",
        100.0,
        _version(0.001, P99_200),
        _version(0.001, P99_200.scaled(1.5)),
        bad=True,
    ),
    Scenario(
        "bad-one-pod",
        100.0,
        _version(0.001),
        dataclasses.replace(_version(0.001), first_pod_errors=0.05),
        bad=True,
    ),
    Scenario(
        "low-traffic-bad",
        1.0,
        _version(0.001),
        _version(0.02),
        bad=True,
        horizon=LOW_TRAFFIC_HORIZON_SECONDS,
    ),
    # a canary a quarter over its 1% SLO beside a stable at half of it: outside what the
    # acceptance test promises (twice the SLO), so the share promoted is measured, not bounded
    Scenario("bad-near-slo", 100.0, _version(0.005), _version(0.0125), bad=True),
)


def with_pods(scenario: Scenario, pods: tuple[int, int] | None) -> Scenario:
    """The scenario with other numbers of stable and canary pods, renamed after them."""
    if pods is None or pods == scenario.pods:
        return scenario
    name = f"{scenario.name}[pods={pods[0]},{pods[1]}]"
    return dataclasses.replace(scenario, name=name, pods=pods)


def with_callers(scenario: Scenario, callers: int | None) -> Scenario:
    """The scenario with another number of calling pods (0: caller-seen series per
    destination pod), renamed after it."""
    if callers is None or callers == scenario.callers:
        return scenario
    view = f"callers={callers}" if callers else "series per destination pod"
    return dataclasses.replace(scenario, name=f"{scenario.name}[{view}]", callers=callers)


def with_latency(scenario: Scenario, latency: Latency | None) -> Scenario:
    """The scenario with stable's latency replaced, renamed after it. The canary keeps its
    latency's ratio to stable's (1 where both are alike, 1.5 in ``latency-200-300``), so a
    healthy world stays healthy and a slow canary stays as much slower."""
    if latency is None:
        return scenario
    factor = scenario.canary.latency.p99_ms / scenario.stable.latency.p99_ms
    shape = "" if latency.tail_shape is None else f",{latency.tail_shape:g}"
    name = f"{scenario.name}[latency={latency.median_ms:g},{latency.p99_ms:g}{shape}]"
    return dataclasses.replace(
        scenario,
        name=name,
        stable=dataclasses.replace(scenario.stable, latency=latency),
        canary=dataclasses.replace(scenario.canary, latency=latency.scaled(factor)),
    )


def with_errors(scenario: Scenario, errors: tuple[float, float] | None) -> Scenario:
    """The scenario with stable's and the canary's error probabilities replaced, renamed
    after them. The canary is bad (its rollback the right outcome) where its errors are
    higher than stable's, or where it is slower as the scenario made it."""
    if errors is None:
        return scenario
    stable, canary = errors
    slower = scenario.canary.latency.slow_probability() > scenario.stable.latency.slow_probability()
    return dataclasses.replace(
        scenario,
        name=f"{scenario.name}[errors={stable:g},{canary:g}]",
        stable=dataclasses.replace(scenario.stable, error_probability=stable),
        canary=dataclasses.replace(
            scenario.canary, error_probability=canary, first_pod_errors=None
        ),
        bad=canary > stable or slower,
    )


def parse_errors(text: str) -> tuple[float, float]:
    """``STABLE,CANARY``: each version's probability that a request fails."""
    try:
        stable, canary = (float(part) for part in text.split(","))
    except ValueError:
        stable = canary = -1.0
    if not (0.0 <= stable < 1.0 and 0.0 <= canary < 1.0):
        raise ValueError(
            f"bad errors {text!r}: give STABLE,CANARY, each a probability (0.008,0.012)"
        )
    return stable, canary


def parse_latency(text: str) -> Latency:
    """``MEDIAN,P99[,TAIL]`` in milliseconds: log-normal, or Lomax with that tail shape."""
    parts = [part.strip() for part in text.split(",")]
    try:
        numbers = [float(part) for part in parts]
    except ValueError:
        numbers = []
    if len(numbers) not in (2, 3) or min(numbers) <= 0 or numbers[0] >= numbers[1]:
        raise ValueError(
            f"bad latency {text!r}: give MEDIAN,P99[,TAIL] in ms, 0 < MEDIAN < P99 "
            "(TAIL: a Lomax shape, e.g. 1.5; without it the latency is log-normal)"
        )
    return Latency(numbers[0], numbers[1], numbers[2] if len(numbers) == 3 else None)


def with_noise(scenario: Scenario, overrides: Sequence[str]) -> Scenario:
    """The scenario with ``field=value`` noise overrides (``pod_burst_every=3600``); a
    scenario renamed after them, so a report says what it ran."""
    if not overrides:
        return scenario
    fields = {field.name: field for field in dataclasses.fields(Noise)}
    changes: dict[str, object] = {}
    for override in overrides:
        name, _, text = override.partition("=")
        if name not in fields or not text:
            known = ", ".join(fields)
            raise ValueError(f"bad noise override {override!r}: give field=value ({known})")
        if text.lower() in ("none", "null"):
            changes[name] = None
        elif text.lower() in ("true", "false"):
            changes[name] = text.lower() == "true"
        else:
            number = float(text)
            changes[name] = int(number) if name == "late_seconds" else number
    noise = dataclasses.replace(scenario.noise, **changes)  # type: ignore[arg-type]
    name = f"{scenario.name}[{','.join(overrides)}]"
    return dataclasses.replace(scenario, name=name, noise=noise)
