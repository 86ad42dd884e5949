"""Anytime-valid sequential tests on request counts: is the canary worse?

Pure arithmetic, no I/O. The analysis looks at the evidence every tick, for as long as a
rollout lasts, while the canary's share of traffic changes from step to step. A classical
test (a z-test or chi-square on the counts so far) repeated at every tick would raise false
alarms far above its nominal level. The tests here are *test martingales* (e-processes):
non-negative processes with expectation at most 1 under the null hypothesis, so by Ville's
inequality ``P(sup_t E_t >= 1/alpha) <= alpha`` whatever the number of looks, and a
rollback decided when ``E_t >= 1/alpha`` has a false-alarm probability of at most ``alpha``.
``1 / max_t E_t`` is an anytime-valid p-value, reported as evidence.

**Canary versus stable, conditional on the errors (``comparison_update``).** Model the
bad requests (errors, or requests slower than the SLO bucket) of each version as Poisson
with a rate per request, ``lambda_c`` for the canary and ``lambda_s`` for stable. In one
interval the canary served ``n_c`` requests and stable ``n_s``. Conditional on the total
number of bad requests ``m = x_c + x_s`` in that interval, the canary's share is binomial::

    x_c | m  ~  Binomial(m, pi(theta)),   pi(theta) = theta n_c / (theta n_c + n_s),

with ``theta = lambda_c / lambda_s``. The null hypothesis is ``theta <= 1`` (the canary
is no worse). The likelihood ratio of ``theta`` against ``1`` for the interval is::

    LR = (pi(theta) / pi(1)) ** x_c * ((1 - pi(theta)) / (1 - pi(1))) ** x_s

and the product over intervals is a test martingale for ``theta = 1`` (and a
supermartingale for ``theta < 1``, because the binomial family has a monotone likelihood
ratio). Conditioning per interval makes the test exact under any change of weights between
intervals: only that interval's request counts enter ``pi``, so a step from 5% to 50% does
not bias it, and a shared outage that raises both versions' errors does not either. With
binomial (rather than Poisson) errors the conditional law is hypergeometric, which is
smaller in the convex order (Hoeffding, 1963), so the product stays a supermartingale.
The composite alternative ``theta > 1`` is handled by a *mixture*: a weighted average of
the likelihood ratios over a grid of ``theta`` values is again a test martingale (Robbins,
1970), and its evidence is within ``log(1 / weight)`` of the best grid point.

**Canary against an absolute rate (``rate_log_likelihood_ratios``).** The SLO says the
error ratio must stay under ``p0`` (``max`` of the policy). With ``x`` bad requests among
``n`` canary requests, ``(p1/p0)**x ((1-p1)/(1-p0))**(n-x)`` is a test martingale for
``p <= p0`` (Wald, 1945); a mixture over ``p1 > p0`` again gives an anytime-valid test.
This catches a 5% canary against a 1% SLO even when stable's own counts are too few to
compare with.

**One e-process per policy.** ``judge`` averages both families with prior weights into
one e-process per policy (an average of e-processes is an e-process under the
intersection of the nulls) and splits ``alpha`` equally across policies (Bonferroni), so
the probability that a healthy canary is rolled back by any of the tests stays at most
``alpha``.

**The floor.** ``wald_expected_sample_size`` is Wald's approximation of the expected
sample size of the optimal SPRT for simple hypotheses ``p0`` against ``p1`` under ``p1``:
the benchmark's reference for how fast any test could decide.

References: A. Wald, Sequential tests of statistical hypotheses, Ann. Math. Statist. 16
(1945); H. Robbins, Statistical methods related to the law of the iterated logarithm,
Ann. Math. Statist. 41 (1970); W. Hoeffding, Probability inequalities for sums of bounded
random variables, JASA 58 (1963); M. Lindon and A. Malek, Anytime-valid inference for
multinomial count data, NeurIPS 2022; A. Ramdas, P. Grunwald, V. Vovk and G. Shafer,
Game-theoretic statistics and safe anytime-valid inference, Statist. Sci. 38 (2023).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

__all__ = [
    "COMPARISON_GRID",
    "RATE_GRID",
    "acceptance_step",
    "comparison_update",
    "log_mixture",
    "rate_log_likelihood_ratios",
    "rate_update",
    "wald_expected_sample_size",
]

COMPARISON_GRID: tuple[tuple[float, float], ...] = (
    (1.5, 0.05),
    (2.0, 0.05),
    (3.0, 0.07),
    (5.0, 0.08),
    (10.0, 0.10),
    (20.0, 0.15),
    (40.0, 0.20),
    (80.0, 0.30),
)
"""``(theta, prior weight)``: how much worse than stable the canary's bad-request rate is.

The weights lean towards large ratios on purpose: a grossly bad canary must be stopped
after a handful of requests, while a mildly worse one accumulates evidence over minutes
anyway, so the price of a smaller weight (``log(1/w)`` extra evidence) is paid where time
is cheap. The weights sum to 1.
"""

RATE_GRID: tuple[tuple[float, float], ...] = (
    (1.5, 0.2),
    (2.0, 0.2),
    (3.0, 0.2),
    (5.0, 0.2),
    (10.0, 0.2),
)
"""``(multiple of the allowed rate, prior weight)`` for the test against an absolute rate."""

_LOG_FLOOR = -1e9


def comparison_update(
    log_ratios: Sequence[float],
    *,
    canary_bad: float,
    canary_total: float,
    stable_bad: float,
    stable_total: float,
    grid: Sequence[tuple[float, float]] = COMPARISON_GRID,
    dispersion: float = 1.0,
    cap: float = math.inf,
) -> list[float]:
    """Add one interval's evidence to the log likelihood ratios, one per grid point.

    An interval without requests on both sides, or without any bad request, carries no
    information about ``theta`` and leaves the ratios unchanged. Each interval's log ratio
    is divided by ``dispersion`` (tempered) and then limited to ``cap``: both only lower a
    likelihood ratio, so the product stays a supermartingale where the model holds.
    """
    current = list(log_ratios) if log_ratios else [0.0] * len(grid)
    if len(current) != len(grid):
        raise ValueError(f"expected {len(grid)} log ratios, got {len(current)}")
    canary_bad = max(0.0, min(canary_bad, canary_total))
    stable_bad = max(0.0, min(stable_bad, stable_total))
    if canary_total <= 0 or stable_total <= 0 or canary_bad + stable_bad <= 0:
        return current
    share = canary_total / (canary_total + stable_total)
    updated = []
    for (theta, _weight), log_ratio in zip(grid, current, strict=True):
        alternative = theta * share / (theta * share + 1.0 - share)
        step = canary_bad * math.log(alternative / share) + stable_bad * math.log(
            (1.0 - alternative) / (1.0 - share)
        )
        updated.append(max(log_ratio + min(step / dispersion, cap), _LOG_FLOOR))
    return updated


def rate_log_likelihood_ratios(
    bad: float,
    total: float,
    *,
    allowed: float,
    grid: Sequence[tuple[float, float]] = RATE_GRID,
) -> list[float]:
    """Log likelihood ratios of ``p1 = k * allowed`` against ``allowed``, one per grid point.

    The counts are sufficient statistics, so no state is needed beyond them. Grid points
    at or above a rate of 1 are capped just below it.
    """
    bad = max(0.0, min(bad, total))
    if total <= 0 or not 0.0 < allowed < 1.0:
        return [0.0] * len(grid)
    good = total - bad
    return [up * bad + down * good for up, down in _rate_logs(allowed, tuple(grid))]


@functools.lru_cache(maxsize=64)
def _rate_logs(
    allowed: float, grid: tuple[tuple[float, float], ...]
) -> tuple[tuple[float, float], ...]:
    """Per grid point, the log ratio one bad and one good request add (0, 0 at or below
    ``allowed``): the same few numbers every interval, computed once."""
    logs = []
    for multiple, _weight in grid:
        alternative = min(multiple * allowed, 1.0 - 1e-9)
        if alternative <= allowed:
            logs.append((0.0, 0.0))
            continue
        logs.append(
            (math.log(alternative / allowed), math.log((1.0 - alternative) / (1.0 - allowed)))
        )
    return tuple(logs)


def rate_update(
    log_ratios: Sequence[float],
    *,
    bad: float,
    total: float,
    allowed: float,
    grid: Sequence[tuple[float, float]] = RATE_GRID,
    dispersion: float = 1.0,
    cap: float = math.inf,
) -> list[float]:
    """Add one interval's evidence against ``rate <= allowed``, tempered and capped."""
    current = list(log_ratios) if log_ratios else [0.0] * len(grid)
    if len(current) != len(grid):
        raise ValueError(f"expected {len(grid)} log ratios, got {len(current)}")
    steps = rate_log_likelihood_ratios(bad, total, allowed=allowed, grid=grid)
    return [
        max(log_ratio + min(step / dispersion, cap), _LOG_FLOOR)
        for log_ratio, step in zip(current, steps, strict=True)
    ]


ACCEPT_BELOW = 0.5
ACCEPT_ABOVE = 2.0
"""The acceptance test weighs ``rate = ACCEPT_BELOW * max`` against ``ACCEPT_ABOVE * max``."""


def acceptance_step(bad: float, total: float, *, allowed: float, dispersion: float = 1.0) -> float:
    """One interval's log likelihood ratio of "within the SLO" against "twice over it".

    ``LR = (p_g/p_b)**x ((1-p_g)/(1-p_b))**(n-x)`` with ``p_g = max/2`` and ``p_b = 2 max``:
    a test martingale when the rate is ``p_b`` and a supermartingale above it, so a canary
    at twice its SLO or worse reaches ``A`` with probability at most ``1/A`` (Ville), while
    one below about the SLO (1.08 x ``max``) drifts up and is accepted in finite time.
    """
    bad = max(0.0, min(bad, total))
    if total <= 0 or not 0.0 < allowed * ACCEPT_ABOVE < 1.0:
        return 0.0
    good, breach = allowed * ACCEPT_BELOW, allowed * ACCEPT_ABOVE
    step = bad * math.log(good / breach) + (total - bad) * math.log((1 - good) / (1 - breach))
    return step / dispersion


def log_mixture(log_ratios: Sequence[float], weights: Sequence[float]) -> float:
    """``log(sum_k w_k exp(l_k))``, computed stably; ``-inf`` when there is nothing to mix."""
    terms = [
        math.log(weight) + log_ratio
        for log_ratio, weight in zip(log_ratios, weights, strict=True)
        if weight > 0
    ]
    if not terms:
        return -math.inf
    top = max(terms)
    return top + math.log(sum(math.exp(term - top) for term in terms))


def wald_expected_sample_size(p0: float, p1: float, *, alpha: float, beta: float) -> float:
    """Wald's approximate expected sample size under ``p1`` of the SPRT of ``p0`` vs ``p1``.

    ``E[N | p1] = ((1-beta) log((1-beta)/alpha) + beta log(beta/(1-alpha))) / KL(p1, p0)``
    for Bernoulli observations, ignoring the overshoot of the boundary.
    """
    if not 0 < p0 < p1 < 1:
        raise ValueError(f"need 0 < p0 < p1 < 1, got p0={p0}, p1={p1}")
    divergence = p1 * math.log(p1 / p0) + (1 - p1) * math.log((1 - p1) / (1 - p0))
    numerator = (1 - beta) * math.log((1 - beta) / alpha) + beta * math.log(beta / (1 - alpha))
    return numerator / divergence
