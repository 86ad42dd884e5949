"""The benchmark's world overrides: what an independent check changes from the command line.

Inputs are scenario names and override texts; outputs are the scenarios run: their names
(a report says what it ran), their versions' latencies and noise, and the errors a bad
override gets.
"""

from __future__ import annotations

import pytest

from bench import detection
from bench.scenarios import (
    SCENARIOS,
    parse_errors,
    parse_latency,
    with_errors,
    with_latency,
    with_noise,
)
from bench.traffic import Latency

BY_NAME = {scenario.name: scenario for scenario in SCENARIOS}


def test_latency_replaces_stable_and_keeps_the_canary_ratio() -> None:
    slow = with_latency(BY_NAME["latency-200-300"], Latency(6.0, 200.0, 1.5))
    assert slow.name == "latency-200-300[latency=6,200,1.5]"
    assert slow.stable.latency == Latency(6.0, 200.0, 1.5)
    assert slow.canary.latency.p99_ms == pytest.approx(300.0)
    assert slow.canary.latency.tail_shape == 1.5
    assert slow.canary.latency.slow_probability() > slow.stable.latency.slow_probability()
    assert slow.bad
    healthy = with_latency(BY_NAME["healthy-0.1pct"], Latency(40.0, 230.0))
    assert healthy.stable.latency == healthy.canary.latency == Latency(40.0, 230.0)
    assert healthy.stable.error_probability == BY_NAME["healthy-0.1pct"].stable.error_probability
    assert with_latency(healthy, None) is healthy


def test_parse_latency() -> None:
    assert parse_latency("6,200,1.5") == Latency(6.0, 200.0, 1.5)
    assert parse_latency("40, 230") == Latency(40.0, 230.0, None)
    for bad in ("200,100", "40", "a,b", "0,100", "6,200,1.5,2"):
        with pytest.raises(ValueError, match="MEDIAN,P99"):
            parse_latency(bad)


def test_errors_replace_both_versions_and_say_which_is_bad() -> None:
    near = with_errors(BY_NAME["bad-1pct"], (0.008, 0.012))
    assert near.name == "bad-1pct[errors=0.008,0.012]"
    assert (near.stable.error_probability, near.canary.error_probability) == (0.008, 0.012)
    assert near.bad
    assert near.hypotheses() == (0.008, 0.012)
    alike = with_errors(BY_NAME["bad-one-pod"], (0.009, 0.009))
    assert not alike.bad
    assert alike.canary.first_pod_errors is None
    # a slower canary stays bad with the same errors as stable
    assert with_errors(BY_NAME["latency-200-300"], (0.001, 0.001)).bad
    assert with_errors(alike, None) is alike


def test_parse_errors() -> None:
    assert parse_errors("0.008,0.012") == (0.008, 0.012)
    for bad in ("0.008", "1.5,0.1", "a,b", "0.1,0.2,0.3", "-0.1,0.1"):
        with pytest.raises(ValueError, match="STABLE,CANARY"):
            parse_errors(bad)


def test_noise_reaches_a_scenario_without_noise() -> None:
    noisy = with_noise(BY_NAME["healthy-0.8pct"], ["pod_burst_every=900"])
    assert noisy.name == "healthy-0.8pct[pod_burst_every=900]"
    assert noisy.noise.pod_burst_every == 900.0
    with pytest.raises(ValueError, match="bad noise override"):
        with_noise(noisy, ["burst=1"])


def test_a_bad_latency_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        detection.main(["--seeds", "1", "--latency", "200,100"])
    assert exited.value.code == 2
    assert "bad latency '200,100'" in capsys.readouterr().err
