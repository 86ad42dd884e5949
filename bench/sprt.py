"""The statistical floor of the detection benchmark: Wald's SPRT, simulated.

The optimal sequential test of a bad-request rate ``p0`` against ``p1`` (both known in
advance, which no real controller knows) needs, on average under ``p1``, the sample size
this module estimates by Monte Carlo. Wald's formula ignores the overshoot of the boundary,
which matters when one bad request moves the statistic by ``log(p1/p0)``, several times
the boundary's distance: the simulated figure is the honest floor.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["monte_carlo_sample_size"]


def monte_carlo_sample_size(
    p0: float,
    p1: float,
    *,
    alpha: float,
    beta: float,
    paths: int = 20_000,
    seed: int = 0,
) -> float:
    """Mean requests the SPRT of ``p0`` vs ``p1`` takes to decide, when the rate is ``p1``.

    Wald's boundaries ``log((1-beta)/alpha)`` and ``log(beta/(1-alpha))``; every path runs
    until it crosses one (paths are simulated in chunks of requests, all at once).
    """
    if not 0 < p0 < p1 < 1:
        raise ValueError(f"need 0 < p0 < p1 < 1, got p0={p0}, p1={p1}")
    upper = math.log((1 - beta) / alpha)
    lower = math.log(beta / (1 - alpha))
    up = math.log(p1 / p0)
    down = math.log((1 - p1) / (1 - p0))
    rng = np.random.default_rng(seed)
    position = np.zeros(paths)
    taken = np.zeros(paths)
    running = np.ones(paths, dtype=bool)
    chunk = 64
    while running.any():
        live = np.nonzero(running)[0]
        bad = rng.random((live.size, chunk)) < p1
        walk = position[live, None] + np.cumsum(np.where(bad, up, down), axis=1)
        crossed = (walk >= upper) | (walk <= lower)
        done = crossed.any(axis=1)
        first = np.argmax(crossed, axis=1)
        taken[live] += np.where(done, first + 1, chunk)
        position[live] = walk[:, -1]
        running[live[done]] = False
        chunk = min(chunk * 2, 4096)
    return float(taken.mean())
