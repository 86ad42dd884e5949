"""How fast a bad canary is stopped, and how rarely a good one is: ours against Flagger and Argo.

    python -m bench.detection [--seeds N] [--seed-offset N] [--json PATH] [--scenarios a,b]
        [--policies a,b] [--noise field=value ...] [--latency MEDIAN,P99[,TAIL]]
        [--errors STABLE,CANARY] [--pods S,C] [--callers N] [--jobs N]

A simulation in virtual time (``bench/traffic.py``: per-pod traffic, 15 s scrapes per pod,
sample times, and the noise of real traffic: shared incidents, retries, per-pod gamma
noise, pod bursts, late series, heavy-tailed latency, per-pod skew; ``bench/callers.py``:
the caller-seen series per calling pod, as ``reporter="source"`` gives them) drives four
controllers (``bench/controllers.py``) on the same seeds: ``ours`` is the project's real
analysis and decision core with the spec's defaults; ``flagger`` and ``argo`` are the
rules of their tutorials, ``flagger-matched`` Flagger's rule on our schedule; all have the
same SLOs. For each scenario and controller it reports canary requests and errors served
before a rollback (mean, p95), the canary requests in the evidence when the rollback was
decided, the time to rollback, the bad-promotion rate, the false-rollback rate, the time
to promote a healthy canary, the mean of the highest canary weight reached and the share
of runs still undecided at the horizon.

The reference is the SPRT floor computed in the run: the expected canary sample an
optimal sequential test of ``p0`` (stable's rate) against ``p1`` (the canary's) needs at
alpha 0.01 and beta 0.05, with both rates known in advance: Wald's approximation
(``floors``) and simulated (``floors_mc``, ``bench/sprt.py``).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import dataclasses
import functools
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from bench.callers import CallerView
from bench.controllers import PROMOTED, ROLLED_BACK, Argo, Flagger, FlaggerMatched, Ours
from bench.scenarios import (
    HORIZON_SECONDS,
    SCENARIOS,
    Scenario,
    parse_errors,
    parse_latency,
    with_callers,
    with_errors,
    with_latency,
    with_noise,
    with_pods,
)
from bench.sprt import monte_carlo_sample_size
from bench.traffic import ERRORS, REQUESTS, PrometheusView, Service

__all__ = ["SCENARIOS", "Scenario", "main", "run_all", "simulate", "summarise", "table"]

FLOOR_SEED = 0
"""The Monte Carlo floor's random stream, the same for every scenario."""


@functools.cache
def simulated_floor(p0: float, p1: float) -> float:
    """The SPRT's expected canary sample under ``p1``, simulated: a function of the rates
    alone (one seed for every scenario), so scenarios with the same rates share it."""
    return monte_carlo_sample_size(p0, p1, alpha=0.01, beta=0.05, seed=FLOOR_SEED)


class Controller(Protocol):
    name: str
    weight: int
    next_tick: float
    result: str | None
    decision_sample: float | None

    def tick(self, now: float, view: PrometheusView) -> None: ...


CONTROLLERS: dict[str, Callable[[], Controller]] = {
    "ours": Ours,
    "flagger": Flagger,
    "flagger-matched": FlaggerMatched,
    "argo": Argo,
}


@dataclasses.dataclass(frozen=True)
class Run:
    result: str | None
    seconds: float
    canary_requests: float
    canary_errors: float
    decision_sample: float | None
    max_canary_weight: float


def simulate(scenario: Scenario, controller: Controller, seed: int) -> Run:
    """One rollout of one controller on one seed, a block of seconds between ticks."""
    rng = np.random.default_rng(seed)
    service = Service(
        rng,
        rate=scenario.rate,
        stable=scenario.stable,
        canary=scenario.canary,
        noise=scenario.noise,
        horizon=scenario.horizon,
        pods=scenario.pods,
    )
    view = (
        CallerView(rng, service, scenario.callers)
        if scenario.callers
        else PrometheusView(rng, service)
    )
    now = 0
    top = 0.0
    while True:
        while controller.next_tick <= now and controller.result is None:
            controller.tick(float(now), view)
        top = max(top, float(controller.weight))
        if controller.result is not None or now >= scenario.horizon:
            canary = service.cumulative["canary"][now].sum(axis=0)
            return Run(
                controller.result,
                float(now),
                float(canary[REQUESTS]),
                float(canary[ERRORS]),
                controller.decision_sample,
                top,
            )
        until = min(max(math.ceil(controller.next_tick), now + 1), scenario.horizon)
        service.advance(controller.weight, until - now)
        now = until


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _p95(values: Sequence[float]) -> float | None:
    return float(np.percentile(values, 95)) if values else None


def summarise(scenario: Scenario, policy: str, runs: Sequence[Run]) -> dict[str, Any]:
    rollbacks = [r for r in runs if r.result == ROLLED_BACK]
    promotions = [r for r in runs if r.result == PROMOTED]
    count = len(runs)
    samples = [r.decision_sample for r in rollbacks if r.decision_sample is not None]
    result: dict[str, Any] = {
        "scenario": scenario.name,
        "policy": policy,
        "runs": count,
        "undecided_rate": sum(r.result is None for r in runs) / count,
        "canary_requests_mean": None,
        "canary_requests_p95": None,
        "decision_sample_mean": None,
        "canary_errors_mean": None,
        "canary_errors_p95": None,
        "seconds_to_rollback_mean": None,
        "bad_promotion_rate": None,
        "false_rollback_rate": None,
        "seconds_to_promote_mean": None,
        "max_canary_weight_mean": _mean([r.max_canary_weight for r in runs]),
    }
    if scenario.bad:
        result.update(
            canary_requests_mean=_mean([r.canary_requests for r in rollbacks]),
            canary_requests_p95=_p95([r.canary_requests for r in rollbacks]),
            decision_sample_mean=_mean(samples),
            canary_errors_mean=_mean([r.canary_errors for r in rollbacks]),
            canary_errors_p95=_p95([r.canary_errors for r in rollbacks]),
            seconds_to_rollback_mean=_mean([r.seconds for r in rollbacks]),
            bad_promotion_rate=len(promotions) / count,
        )
    else:
        result.update(
            false_rollback_rate=len(rollbacks) / count,
            seconds_to_promote_mean=_mean([r.seconds for r in promotions]),
        )
    return result


def _runs(task: tuple[Scenario, str, int, int]) -> list[Run]:
    """The runs of one controller on one scenario for a block of seeds (a worker's task)."""
    scenario, policy, first, last = task
    return [simulate(scenario, CONTROLLERS[policy](), seed) for seed in range(first, last)]


def run_all(
    scenarios: Sequence[Scenario],
    seeds: int,
    *,
    jobs: int = 1,
    offset: int = 0,
    policies: Sequence[str] = tuple(CONTROLLERS),
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Every scenario, controller and seed (``offset`` to ``offset + seeds``); seeds are
    split over ``jobs`` processes.

    Each run depends only on its seed, so the figures do not depend on ``jobs``.
    """
    groups = [(scenario, policy) for scenario in scenarios for policy in policies]
    # long runs (low traffic) in small blocks, so the workers finish together
    block = {s.name: 1 if s.horizon > HORIZON_SECONDS else 10 for s in scenarios}
    last = offset + seeds
    tasks = [
        (scenario, policy, first, min(first + block[scenario.name], last))
        for scenario, policy in groups
        for first in range(offset, last, block[scenario.name])
    ]
    started = time.perf_counter()
    runs: dict[tuple[str, str], list[Run]] = {(s.name, p): [] for s, p in groups}
    pending = {(s.name, p): 0 for s, p in groups}
    for scenario, policy, *_ in tasks:
        pending[scenario.name, policy] += 1
    with _executor(jobs) as pool:
        for (scenario, policy, _, _), done in zip(tasks, pool.map(_runs, tasks), strict=True):
            key = (scenario.name, policy)
            runs[key] += done
            pending[key] -= 1
            if pending[key] == 0:
                elapsed = time.perf_counter() - started
                progress(f"  {scenario.name:<22} {policy:<16} done at {elapsed:6.1f}s")
    results = [summarise(s, p, runs[s.name, p]) for s, p in groups]
    floors = {s.name: s.floor() for s in scenarios}
    floors_mc: dict[str, float | None] = {}
    for scenario in scenarios:
        rates = scenario.hypotheses()
        floors_mc[scenario.name] = None if rates is None else simulated_floor(*rates)
    return {
        "seeds": seeds,
        "seed_offset": offset,
        "results": results,
        "floors": floors,
        "floors_mc": floors_mc,
    }


class _InProcess(contextlib.AbstractContextManager["_InProcess"]):
    """``map`` in this process: one job needs no workers."""

    def __exit__(self, *_: object) -> None:
        return None

    def map(self, function: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[Any]:
        return map(function, items)


def _executor(jobs: int) -> _InProcess | concurrent.futures.ProcessPoolExecutor:
    return _InProcess() if jobs <= 1 else concurrent.futures.ProcessPoolExecutor(jobs)


def _fmt(value: float | None, spec: str) -> str:
    width = int(spec.split(".")[0])
    return "-".rjust(width) if value is None else format(value, spec)


def table(report: dict[str, Any]) -> str:
    header = (
        f"{'scenario':<22} {'policy':<16} {'req mean':>9} {'req p95':>8} {'decided@':>9} "
        f"{'err mean':>9} {'err p95':>8} {'s to RB':>8} {'bad prom':>9} {'false RB':>9} "
        f"{'s to prom':>10} {'max w':>6} {'undec':>6}"
    )
    lines = [header, "-" * len(header)]
    for row in report["results"]:
        lines.append(
            f"{row['scenario']:<22} {row['policy']:<16} "
            f"{_fmt(row['canary_requests_mean'], '9.0f')} "
            f"{_fmt(row['canary_requests_p95'], '8.0f')} "
            f"{_fmt(row['decision_sample_mean'], '9.0f')} "
            f"{_fmt(row['canary_errors_mean'], '9.1f')} {_fmt(row['canary_errors_p95'], '8.1f')} "
            f"{_fmt(row['seconds_to_rollback_mean'], '8.0f')} "
            f"{_fmt(row['bad_promotion_rate'], '9.1%')} {_fmt(row['false_rollback_rate'], '9.1%')} "
            f"{_fmt(row['seconds_to_promote_mean'], '10.0f')} "
            f"{_fmt(row['max_canary_weight_mean'], '6.1f')} {_fmt(row['undecided_rate'], '6.1%')}"
        )
    lines.append("")
    lines.append(
        "SPRT floor (alpha 0.01, beta 0.05): expected canary requests under H1, "
        "Wald's approximation and Monte Carlo"
    )
    for name, floor in report["floors"].items():
        if floor is not None:
            lines.append(f"  {name:<22} {floor:8.1f} {report['floors_mc'][name]:8.1f}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.detection", description=__doc__)
    parser.add_argument("--seeds", type=int, default=200, help="seeds per scenario (200)")
    parser.add_argument(
        "--seed-offset", type=int, default=0, help="first seed (0): another range of worlds"
    )
    parser.add_argument("--json", type=Path, help="write the results as JSON here")
    parser.add_argument(
        "--policies", default=",".join(CONTROLLERS), help="comma-separated controllers (all)"
    )
    parser.add_argument(
        "--noise",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a noise field of every scenario run (bench/traffic.py Noise), "
        "e.g. pod_burst_every=3600; repeatable",
    )
    parser.add_argument(
        "--latency",
        metavar="MEDIAN,P99[,TAIL]",
        help="stable's latency in ms in every scenario run, log-normal or with a Lomax tail "
        "shape (e.g. 6,200,1.5); the canary keeps its scenario's ratio to stable",
    )
    parser.add_argument(
        "--errors",
        metavar="STABLE,CANARY",
        help="each version's error probability in every scenario run (e.g. 0.008,0.012: a "
        "canary just over the 1%% SLO beside a stable near it); bad where the canary's is higher",
    )
    parser.add_argument(
        "--pods", metavar="STABLE,CANARY", help="pods of each version (6,2 unless given)"
    )
    parser.add_argument(
        "--callers",
        type=int,
        metavar="N",
        help="calling pods reporting the caller-seen series (4 unless given; 0: those series "
        "per destination pod, as no Istio reporter gives them)",
    )
    parser.add_argument(
        "--scenarios",
        default=",".join(s.name for s in SCENARIOS),
        help="comma-separated scenario names (all by default)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help="worker processes (one per core by default; the figures do not depend on it)",
    )
    args = parser.parse_args(argv)
    wanted = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    known = {s.name: s for s in SCENARIOS}
    unknown = [name for name in wanted if name not in known]
    if unknown:
        parser.error(f"unknown scenario {unknown[0]!r}; known: {', '.join(known)}")
    policies = [name.strip() for name in args.policies.split(",") if name.strip()]
    if not policies or any(name not in CONTROLLERS for name in policies):
        parser.error(f"--policies: give some of {', '.join(CONTROLLERS)}")
    try:
        pods = tuple(int(n) for n in args.pods.split(",")) if args.pods else None
        if pods is not None and (len(pods) != 2 or min(pods) < 1):
            raise ValueError("--pods: give STABLE,CANARY, each at least 1")
        if args.callers is not None and args.callers < 0:
            raise ValueError("--callers: give 0 or more")
        latency = parse_latency(args.latency) if args.latency else None
        errors = parse_errors(args.errors) if args.errors else None
        scenarios = []
        for name in wanted:
            scenario = with_noise(known[name], args.noise)
            scenario = with_errors(with_latency(scenario, latency), errors)
            scenario = with_pods(scenario, (pods[0], pods[1]) if pods else None)
            scenarios.append(with_callers(scenario, args.callers))
    except ValueError as error:
        parser.error(str(error))
    print(
        f"detection benchmark: {args.seeds} seeds per scenario from seed {args.seed_offset}, "
        f"15 s scrape interval, {args.jobs} processes"
    )
    started = time.perf_counter()
    report = run_all(
        scenarios, args.seeds, jobs=args.jobs, offset=args.seed_offset, policies=policies
    )
    print()
    print(table(report))
    print(f"\n{time.perf_counter() - started:.0f}s in all")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
