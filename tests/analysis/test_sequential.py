"""The sequential tests' statistics: false alarms stay under alpha, bad canaries are caught.

Inputs are simulated per-interval request and error counts (fixed seeds, weights changing
between intervals as a rollout's steps do); outputs are the rejection rates and the sample
at rejection of the e-processes in ``rollout.analysis.sequential``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from rollout.analysis import sequential

ALPHA = 0.01
WEIGHTS = (0.01, 0.01, 0.05, 0.05, 0.25, 0.25, 0.5, 0.5)
"""Canary share per interval: the rollout's steps change it between intervals."""


def _run(
    rng: np.random.Generator,
    *,
    canary_rate: float,
    stable_rate: float,
    total_per_interval: float,
    intervals: int,
    outage: bool = False,
    shares: tuple[float, ...] = WEIGHTS,
) -> float | None:
    """Canary requests when the mixed e-process crossed 1/alpha, or None."""
    comparison: list[float] = []
    weights = [w for _, w in sequential.COMPARISON_GRID]
    canary_requests = 0.0
    for index in range(intervals):
        share = shares[min(index, len(shares) - 1)]
        boost = 20.0 if outage and 3 <= index < 5 else 1.0
        n_canary = rng.poisson(total_per_interval * share)
        n_stable = rng.poisson(total_per_interval * (1 - share))
        comparison = sequential.comparison_update(
            comparison,
            canary_bad=rng.binomial(n_canary, min(1.0, canary_rate * boost)),
            canary_total=n_canary,
            stable_bad=rng.binomial(n_stable, min(1.0, stable_rate * boost)),
            stable_total=n_stable,
        )
        canary_requests += n_canary
        if sequential.log_mixture(comparison, weights) >= math.log(1 / ALPHA):
            return canary_requests
    return None


@pytest.mark.parametrize(("rate", "outage"), [(0.001, False), (0.01, False), (0.01, True)])
def test_type_one_error_under_the_null_stays_under_alpha(rate: float, outage: bool) -> None:
    rng = np.random.default_rng(20240601)
    runs = 1500
    rejections = sum(
        _run(
            rng,
            canary_rate=rate,
            stable_rate=rate,
            total_per_interval=3000,
            intervals=16,
            outage=outage,
        )
        is not None
        for _ in range(runs)
    )
    assert rejections / runs <= ALPHA


def test_a_five_percent_canary_is_caught_within_a_few_dozen_requests() -> None:
    rng = np.random.default_rng(7)
    samples = [
        _run(
            rng,
            canary_rate=0.05,
            stable_rate=0.001,
            total_per_interval=100,
            intervals=400,
            shares=(0.01,),
        )
        for _ in range(400)
    ]
    caught = [s for s in samples if s is not None]
    assert len(caught) == len(samples)
    floor = sequential.wald_expected_sample_size(0.001, 0.05, alpha=ALPHA, beta=0.05)
    assert 25 < floor < 32
    assert float(np.mean(caught)) < 2.5 * floor


def test_a_better_canary_is_never_rejected() -> None:
    rng = np.random.default_rng(11)
    assert all(
        _run(rng, canary_rate=0.0005, stable_rate=0.005, total_per_interval=3000, intervals=16)
        is None
        for _ in range(300)
    )


def test_weight_changes_alone_do_not_create_evidence() -> None:
    comparison = sequential.comparison_update(
        [], canary_bad=1, canary_total=10, stable_bad=99, stable_total=990
    )
    # exactly the expected share of errors at 1% weight: evidence against theta > 1 only
    assert all(value < 0 for value in comparison)
    after = sequential.comparison_update(
        comparison, canary_bad=50, canary_total=500, stable_bad=50, stable_total=500
    )
    assert all(b < a for a, b in zip(comparison, after, strict=True))


def test_rate_test_against_the_slo() -> None:
    bad = sequential.rate_log_likelihood_ratios(10, 100, allowed=0.01)
    good = sequential.rate_log_likelihood_ratios(0, 500, allowed=0.01)
    assert max(bad) > math.log(100)
    assert max(good) < 0
    assert sequential.rate_log_likelihood_ratios(3, 0, allowed=0.01) == [0.0] * len(bad)


def test_log_mixture_is_a_weighted_average() -> None:
    assert sequential.log_mixture([0.0, math.log(3)], [0.5, 0.5]) == pytest.approx(math.log(2))
    assert sequential.log_mixture([], []) == -math.inf
