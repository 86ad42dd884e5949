"""Absolute checks of single numbers, as users know them from Flagger: min and max.

A ``value`` policy compares one number with ``min``/``max``; a latency policy's quantile
(p99 in milliseconds) is compared with ``maxMs``. A missing number (no data, NaN, a query
error) is inconclusive unless the spec says no data means failure. A quantile computed from
a handful of requests is mostly noise, so a quantile above its maximum fails only once the
canary has served enough requests for that quantile to exist (100 for a p99); before that
it holds the rollout as inconclusive. The evidence says how wide the histogram bucket
around ``maxMs`` is: the quantile is interpolated inside it (``buckets.py``). Pure code.
"""

from __future__ import annotations

import math
from typing import Any

from rollout.analysis import buckets
from rollout.analysis.observations import Reading, ReadingProblem
from rollout.analysis.verdicts import Evidence, Outcome

__all__ = ["check_quantile", "check_value", "missing", "quantile_min_requests"]

_NO_DATA_PROBLEMS = (ReadingProblem.NO_DATA, ReadingProblem.NOT_A_NUMBER)


def missing(
    *, policy: str, check: str, reading: Reading | None, field: str, no_data_fails: bool
) -> Evidence | None:
    """Evidence for a reading without a usable single value, or None when it has one."""
    if reading is None:
        return Evidence(
            policy=policy,
            check=check,
            outcome=Outcome.INCONCLUSIVE,
            message=f"{field}: not observed this tick",
        )
    problem = reading.single_problem()
    if problem is None:
        return None
    kind, detail = problem
    fails = no_data_fails and kind in _NO_DATA_PROBLEMS
    return Evidence(
        policy=policy,
        check=check,
        outcome=Outcome.FAIL if fails else Outcome.INCONCLUSIVE,
        message=f"{field}: {detail}" + (" (noData: fail)" if fails else ""),
        query=reading.query,
    )


def check_value(
    *,
    policy: str,
    canary: Reading | None,
    stable: Reading | None,
    minimum: float | None,
    maximum: float | None,
    no_data_fails: bool,
) -> list[Evidence]:
    """``min <= value <= max`` for a value policy."""
    absent = missing(
        policy=policy, check="value", reading=canary, field="query", no_data_fails=no_data_fails
    )
    if absent is not None or canary is None:
        return [absent] if absent else []
    value = canary.value()
    assert value is not None
    stable_value = stable.value() if stable is not None else None
    evidence = []
    for bound, breached, word in (
        (minimum, minimum is not None and value < minimum, "min"),
        (maximum, maximum is not None and value > maximum, "max"),
    ):
        if bound is None:
            continue
        relation = ("<" if word == "min" else ">") if breached else ("≥" if word == "min" else "≤")
        evidence.append(
            Evidence(
                policy=policy,
                check=f"value-{word}",
                outcome=Outcome.FAIL if breached else Outcome.PASS,
                message=f"canary {value:.6g} {relation} {word} {bound:.6g}",
                query=canary.query,
                value=value,
                threshold=bound,
                stable_value=stable_value,
            )
        )
    return evidence


def quantile_min_requests(params: dict[str, str | int | float]) -> int:
    """Requests needed before a quantile breach counts: ``1 / (1 - q)`` (100 for p99)."""
    try:
        quantile = float(params.get("quantile", 0.99))
    except (TypeError, ValueError):
        quantile = 0.99
    if not 0.0 < quantile < 1.0:
        quantile = 0.99
    return max(1, math.ceil(1.0 / (1.0 - quantile) - 1e-9))


def check_quantile(
    *,
    policy: str,
    canary: Reading | None,
    stable: Reading | None,
    max_ms: float,
    canary_requests: float | None,
    min_requests: int,
    no_data_fails: bool,
) -> Evidence:
    """A quantile in milliseconds against ``maxMs``."""
    absent = missing(
        policy=policy,
        check="quantile",
        reading=canary,
        field="quantile",
        no_data_fails=no_data_fails,
    )
    if absent is not None or canary is None:
        assert absent is not None
        return absent
    value = canary.value()
    assert value is not None
    stable_value = stable.value() if stable is not None else None
    common: dict[str, Any] = {
        "policy": policy,
        "check": "quantile",
        "query": canary.query,
        "value": value,
        "threshold": max_ms,
        "stable_value": stable_value,
        "sample_size": canary_requests,
    }
    bucket = buckets.bucket_around(max_ms)
    bias = (
        ""
        if bucket is None
        else f" (interpolated in the bucket ({bucket[0]:g}, {bucket[1]:g}] ms: "
        f"off by up to {bucket[1] - bucket[0]:g} ms)"
    )
    if value <= max_ms:
        return Evidence(
            outcome=Outcome.PASS,
            message=f"canary {value:.0f} ms ≤ {max_ms:.0f} ms{bias}",
            **common,
        )
    if canary_requests is not None and canary_requests < min_requests:
        return Evidence(
            outcome=Outcome.INCONCLUSIVE,
            message=(
                f"canary {value:.0f} ms > {max_ms:.0f} ms on {canary_requests:.0f} requests; "
                f"a breach counts from {min_requests} requests"
            ),
            **common,
        )
    return Evidence(
        outcome=Outcome.FAIL, message=f"canary {value:.0f} ms > {max_ms:.0f} ms{bias}", **common
    )
