"""How the controller's cost grows with the number of rollouts.

    python -m bench.scale --rollouts N [--json PATH] [--idle] [--steady-seconds S]

Runs the real ``rollout run`` as a child process against the local API server (another
child process, :mod:`bench.scale_apiserver`, whose request log file counts every call the
controller makes), a real Prometheus and a synthetic exporter of Istio's metrics for N
services, then:

1. start-up: from launching the process to ``/readyz`` (the first Git sync done) -
   ``startup_seconds``;
2. adoption: waits until every Rollout has ``v1`` as its stable version;
3. idle: counts the controller's API requests over a few analysis intervals -
   ``api_requests_per_pass_idle``;
4. one commit moves all N specs to ``v2``; once ``git push`` has returned the push webhook
   is called, and a watch sees each VirtualService's first canary weight - from the push's
   return, ``push_to_first_weight_p99_seconds`` (making the commit and pushing it,
   ``git_push_seconds``, is the benchmark's work, not the controller's), and the range
   and instant queries Prometheus answered until the last first weight
   (``push_range_queries``: stable's look-back, read on each rollout's first tick;
   ``push_instant_queries``), with what the push cost the controller over the same time:
   its CPU per rollout (``push_controller_cpu_ms_per_rollout``, steadier from run to run
   than the p99) and its API requests by kind (``push_api_requests``: ``verb resource
   [subresource]``, the writes of every rollout's start); the CPU per rollout of every
   process of the run over the same time (``push_cpu_ms_per_rollout``: the controller, the
   API server, Prometheus, the benchmark with its exporter), and that CPU spread over the
   cores this process may use (``push_cpu_floor_seconds``: however the work were shared
   out, the push could not end sooner on this machine);
5. steady state (all N rollouts in progress, analysing every 5 s): API requests and
   Prometheus queries per pass, tick lag, CPU and RSS of the controller process, and
   reconciles per second with the controller's CPU per reconcile. The stand-ins share the
   machine with it, so the CPU of the API server, of Prometheus and of the benchmark's own
   process (the exporter, the watch) is reported apart. The tick lag is measured twice:
   from 10 s after the push's last first weight (``tick_lag_p50/p99_seconds``, the push's
   backlog still draining) and over the CPU window 40 s later (``tick_lag_later_*``), 30 s
   long unless ``--steady-seconds`` says otherwise (a long window shows what comes
   seldom: the cyclic garbage collector's full passes, memory that grows). Each window
   also gives the share of ticks more than 1 s late (``tick_lag_over_1s_percent``,
   ``tick_lag_later_over_1s_percent``), exact where the p99 is interpolated within a
   bucket: the p99 is under 1 s when that share is under 1%, and the share of beats a
   rollout skipped instead of running them because its run before started more than half
   an interval late (``ticks_skipped_percent``, ``ticks_skipped_later_percent``: a skipped
   beat is a tick not run, whose lag the histogram never sees).

A "pass" is one analysis interval (5 s). Prometheus queries are read from Prometheus' own
``prometheus_http_requests_total{handler="/api/v1/query"}``. Tick lag (how late each
rollout's tick starts after it is due) comes from the controller's
``rollout_tick_lag_seconds`` histogram when it has one; otherwise it is derived from the
request log: each reconcile starts with a read of its Rollout, and the lag is the gap
between two reconcile starts of a rollout minus the interval (``tick_lag_source`` says
which). With ``--idle`` no version is pushed: N stable rollouts, for the idle cost.

The machine is shared: figures are for comparing runs made close together, not absolutes.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import kubernetes

from bench import scale_probe
from bench.scale_apiserver import ApiServerProcess
from bench.scale_world import (
    NAMESPACE,
    SpecRepo,
    SyntheticExporter,
    install_services,
    service_names,
)
from rollout_local.processes.prometheus_server import PrometheusServer, free_port

INTERVAL = 5.0
PUSH_PATIENCE = 300.0
"""Seconds to wait for every rollout's first canary weight after the push."""
STEADY_SECONDS = 30.0
"""The CPU window's length (``--steady-seconds``): CPU, reconciles and the later tick lag
are measured over it."""
HOOK_SECRET = "bench-secret"
RANGE_HANDLER = "/api/v1/query_range"
"""Prometheus' handler for range queries: the look-back's, asked on a rollout's first tick."""


def _wait(condition: Any, *, timeout: float, what: str, every: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(every)
    raise SystemExit(f"bench.scale: timed out after {timeout:.0f}s waiting for {what}")


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=60) as answer:  # a busy controller is slow
        return str(answer.read().decode())


def _ready(url: str) -> bool:
    try:
        _get(url)
    except OSError:
        return False
    return True


def _push_hook(url: str, commit: str) -> None:
    body = json.dumps({"ref": "refs/heads/main", "after": commit}).encode()
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "X-Gitlab-Token": HOOK_SECRET,
            "X-Gitlab-Event": "Push Hook",
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(request, timeout=10):
        pass


def _adopted(api: kubernetes.client.ApiClient, count: int) -> bool:
    custom = kubernetes.client.CustomObjectsApi(api)
    listed: Any = custom.list_namespaced_custom_object(
        "canary.rollout.dev", "v1alpha1", NAMESPACE, "rollouts"
    )
    stable = sum(
        1 for item in listed["items"] if (item.get("status") or {}).get("stableVersion") == "v1"
    )
    return stable >= count


_STEADY_CPU_FIELDS = {
    "controller": "cpu_seconds_per_minute",
    "apiserver": "apiserver_cpu_seconds_per_minute",
    "prometheus": "prometheus_cpu_seconds_per_minute",
    "bench": "bench_cpu_seconds_per_minute",
}
"""Each process's field for its CPU over the steady window."""


def run(
    count: int,
    *,
    idle: bool,
    workdir: Path,
    log_path: Path | None = None,
    steady_seconds: float = STEADY_SECONDS,
) -> dict[str, Any]:
    names = service_names(count)
    results: dict[str, Any] = {"rollouts": count}
    apiserver = ApiServerProcess(workdir, history_limit=max(1000, count * 20))
    try:
        apiserver.wait_ready()
        kubeconfig = apiserver.kubeconfig
        api = kubernetes.config.new_client_from_config(str(kubeconfig))
        install_services(api, names)
        workloads = [] if idle else [f"{n}-{v}" for n in names for v in ("v1", "v2")]
        exporter = SyntheticExporter(workloads)
        scrape = [{"job_name": "istio", "static_configs": [{"targets": [exporter.target]}]}]
        repo = SpecRepo(workdir / "git", names)
        repo.push("v1")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        with PrometheusServer(scrape_configs=scrape, scrape_interval=INTERVAL) as prometheus:
            prometheus.wait_for_targets()
            log = (log_path or workdir / "controller.log").open("wb")
            started = time.monotonic()
            process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "rollout", "run", "--git-url", repo.url),
                    *("--cache-dir", str(workdir / "cache"), "--poll-interval", "60"),
                    *("--kubeconfig", str(kubeconfig), "--prometheus-url", prometheus.url),
                    *("--listen", f"127.0.0.1:{port}", "--no-leader-election"),
                    *("--log-level", "info" if log_path else "warning"),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "ROLLOUT_HOOK_SECRET": HOOK_SECRET, "PYTHONUNBUFFERED": "1"},
            )
            requests = scale_probe.RequestClock(apiserver.request_log)
            try:
                patience = max(300.0, count * 0.2)
                _wait(lambda: _ready(f"{base}/readyz"), timeout=patience, what="/readyz")
                results["startup_seconds"] = round(time.monotonic() - started, 2)
                _wait(
                    lambda: _adopted(api, count),
                    timeout=patience,
                    what="every rollout adopted",
                    every=max(0.5, count / 2000),
                )
                time.sleep(INTERVAL)
                passes = 4
                window = requests.window(INTERVAL * passes)
                results["api_requests_per_pass_idle"] = round(len(window) / passes, 1)
                # the stand-ins share the machine: each one's CPU is reported on its own
                processes = {
                    name: pid
                    for name, pid in (
                        ("controller", process.pid),
                        ("apiserver", apiserver.pid),
                        ("prometheus", prometheus.pid),
                        ("bench", os.getpid()),
                    )
                    if pid is not None
                }
                if not idle:
                    _measure_rollouts(
                        results, api, prometheus, repo, base, requests, processes=processes
                    )
                known = {_STEADY_CPU_FIELDS[name]: pid for name, pid in processes.items()}
                cpu_before = {f: scale_probe.cpu_seconds(p) for f, p in known.items()}
                results["rss_mb_window_start"] = round(scale_probe.rss_mb(process.pid), 1)
                metrics_before = _get(f"{base}/metrics")
                runs_before = scale_probe.reconciles(metrics_before)
                time.sleep(steady_seconds)
                metrics_after = _get(f"{base}/metrics")
                runs = scale_probe.reconciles(metrics_after) - runs_before
                if not idle:
                    _later_lag(results, metrics_before, metrics_after)
                used = {
                    field: scale_probe.cpu_seconds(known[field]) - before
                    for field, before in cpu_before.items()
                }
                for field, seconds in used.items():
                    results[field] = round(seconds * 60 / steady_seconds, 2)
                results["reconciles_per_second"] = round(runs / steady_seconds, 1)
                if runs:
                    per_run = used["cpu_seconds_per_minute"] / runs
                    results["controller_cpu_ms_per_reconcile"] = round(per_run * 1000, 2)
                results["rss_mb"] = round(scale_probe.rss_mb(process.pid), 1)
            finally:
                requests.stop()
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
                log.close()
                exporter.close()
    finally:
        apiserver.stop()
    return results


def _later_lag(results: dict[str, Any], before: str, after: str) -> None:
    """The tick lag over the CPU window too, from 50 s after the push's last first weight
    (``tick_lag_later_*``): the main window starts 10 s after it, while the last rollouts
    take their first steps and the push's backlog drains, and this one says whether the
    controller keeps up once it has."""
    lag_before, lag_after = (
        scale_probe.tick_lag_buckets(before),
        scale_probe.tick_lag_buckets(after),
    )
    if not lag_after:
        return
    p50, p99 = scale_probe.histogram_quantiles(lag_before, lag_after, (0.5, 0.99))
    results["tick_lag_later_p50_seconds"] = round(p50, 2)
    results["tick_lag_later_p99_seconds"] = round(p99, 2)
    results["tick_lag_later_over_1s_percent"] = _percent_over_1s(lag_before, lag_after)
    skipped = _skipped_percent(before, after, lag_before, lag_after)
    if skipped is not None:
        results["ticks_skipped_later_percent"] = skipped


def _skipped_percent(
    before: str,
    after: str,
    lag_before: dict[float, float],
    lag_after: dict[float, float],
) -> float | None:
    """The share of the beats between two ``/metrics`` readings that were skipped after a
    late run instead of run, in percent; None from a controller that does not skip any."""
    skipped_after = scale_probe.skipped_ticks(after)
    if skipped_after is None:
        return None
    skipped = skipped_after - (scale_probe.skipped_ticks(before) or 0.0)
    ran = lag_after.get(math.inf, 0.0) - lag_before.get(math.inf, 0.0)
    beats = ran + skipped
    return round(100 * skipped / beats, 2) if beats > 0 else 0.0


def _percent_over_1s(before: dict[float, float], after: dict[float, float]) -> float | None:
    """The share of ticks more than 1 s late, in percent; None from a controller whose
    histogram has no 1 s edge."""
    if 1.0 not in after:
        return None
    return round(100 * scale_probe.share_over(before, after, 1.0), 2)


def _measure_rollouts(
    results: dict[str, Any],
    api: kubernetes.client.ApiClient,
    prometheus: PrometheusServer,
    repo: SpecRepo,
    base: str,
    requests: scale_probe.RequestClock,
    *,
    processes: dict[str, int],
) -> None:
    watch = scale_probe.FirstCanaryWeight(api, NAMESPACE, "v2")
    threading.Thread(target=watch.run, daemon=True).start()
    watch.started.wait(30)
    began = time.monotonic()
    commit = repo.push("v2")
    pushed = time.monotonic()
    cpu_at_push = {name: scale_probe.cpu_seconds(pid) for name, pid in processes.items()}
    results["git_push_seconds"] = round(pushed - began, 2)
    ranges_before = scale_probe.prometheus_queries(prometheus.url, handler=RANGE_HANDLER)
    instants_before = scale_probe.prometheus_queries(prometheus.url)
    _push_hook(f"{base}/hooks/git", commit)
    count = len(repo.names)
    deadline = time.monotonic() + PUSH_PATIENCE
    while watch.count() < count and time.monotonic() < deadline:
        time.sleep(0.5)
    cpu_push = {
        name: scale_probe.cpu_seconds(pid) - cpu_at_push[name] for name, pid in processes.items()
    }
    last_seen = time.monotonic()
    delays = sorted(seen - pushed for seen in watch.first_seen.values())
    watch.stop()
    results["push_controller_cpu_ms_per_rollout"] = round(cpu_push["controller"] / count * 1000, 2)
    results["push_cpu_ms_per_rollout"] = {
        name: round(seconds / count * 1000, 2) for name, seconds in cpu_push.items()
    }
    results["push_cpu_floor_seconds"] = round(
        sum(cpu_push.values()) / scale_probe.usable_cores(), 2
    )
    time.sleep(0.5)  # the request log is read every 0.1 s
    kinds = collections.Counter(
        " ".join(filter(None, (record.verb, record.resource, record.subresource)))
        for at, record in requests.records()
        if pushed <= at < last_seen
    )
    results["push_api_requests"] = dict(kinds.most_common())
    ranges = scale_probe.prometheus_queries(prometheus.url, handler=RANGE_HANDLER)
    instants = scale_probe.prometheus_queries(prometheus.url)
    results["push_range_queries"] = round(ranges - ranges_before)
    results["push_instant_queries"] = round(instants - instants_before)
    results["rollouts_weighted_after_push"] = len(delays)
    if len(delays) < count:  # the slowest were not seen: their delay is over the patience
        delays.extend([math.inf] * (count - len(delays)))
    p99 = scale_probe.quantile(delays, 0.99)
    results["push_to_first_weight_p99_seconds"] = round(p99, 2) if math.isfinite(p99) else None
    p50 = scale_probe.quantile(delays, 0.5)
    results["push_to_first_weight_p50_seconds"] = round(p50, 2) if math.isfinite(p50) else None
    time.sleep(2 * INTERVAL)  # the pass that moved traffic is not the steady state
    passes = 8
    queries_before = scale_probe.prometheus_queries(prometheus.url)
    metrics_before = _get(f"{base}/metrics")
    lag_before = scale_probe.tick_lag_buckets(metrics_before)
    window = requests.window(INTERVAL * passes)
    queries = scale_probe.prometheus_queries(prometheus.url) - queries_before
    metrics_after = _get(f"{base}/metrics")
    lag_after = scale_probe.tick_lag_buckets(metrics_after)
    results["api_requests_per_pass_steady"] = round(len(window) / passes, 1)
    results["prometheus_queries_per_pass"] = round(queries / passes, 1)
    if lag_after:
        p50, p99 = scale_probe.histogram_quantiles(lag_before, lag_after, (0.5, 0.99))
        results["tick_lag_over_1s_percent"] = _percent_over_1s(lag_before, lag_after)
        results["tick_lag_source"] = "rollout_tick_lag_seconds"
        skipped = _skipped_percent(metrics_before, metrics_after, lag_before, lag_after)
        if skipped is not None:
            results["ticks_skipped_percent"] = skipped
    else:
        lags = scale_probe.lags_from_reads(window, INTERVAL)
        p50, p99 = scale_probe.quantile(lags, 0.5), scale_probe.quantile(lags, 0.99)
        results["tick_lag_source"] = "request log"
    results["tick_lag_p50_seconds"] = round(p50, 2)
    results["tick_lag_p99_seconds"] = round(p99, 2)


FIELDS = (
    "rollouts",
    "startup_seconds",
    "tick_lag_p50_seconds",
    "tick_lag_p99_seconds",
    "prometheus_queries_per_pass",
    "api_requests_per_pass_idle",
    "api_requests_per_pass_steady",
    "rss_mb",
    "cpu_seconds_per_minute",
    "push_to_first_weight_p99_seconds",
)


def main(argv: list[str] | None = None) -> None:
    summary = (__doc__ or "").split("\n")[0]
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=summary)
    parser.add_argument("--rollouts", type=int, required=True)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--idle", action="store_true", help="stable rollouts only, no push")
    parser.add_argument("--log", type=Path, default=None, help="keep the controller's log here")
    parser.add_argument(
        "--steady-seconds",
        type=float,
        default=STEADY_SECONDS,
        help="how long the CPU window lasts (the later tick lag, CPU and reconciles)",
    )
    args = parser.parse_args(argv)
    if args.rollouts < 1:
        parser.error("--rollouts must be at least 1")
    if args.steady_seconds < 5:
        parser.error("--steady-seconds must be at least 5")
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        results = run(
            args.rollouts,
            idle=args.idle,
            workdir=Path(tmp),
            log_path=args.log,
            steady_seconds=args.steady_seconds,
        )
    results["bench_seconds"] = round(time.monotonic() - began, 1)
    extras = (
        "tick_lag_over_1s_percent",
        "tick_lag_later_p50_seconds",
        "tick_lag_later_p99_seconds",
        "tick_lag_later_over_1s_percent",
        "ticks_skipped_percent",
        "ticks_skipped_later_percent",
        "rollouts_weighted_after_push",
        "push_to_first_weight_p50_seconds",
        "push_range_queries",
        "push_instant_queries",
        "push_controller_cpu_ms_per_rollout",
        "push_cpu_ms_per_rollout",
        "push_cpu_floor_seconds",
        "push_api_requests",
        "git_push_seconds",
        "apiserver_cpu_seconds_per_minute",
        "prometheus_cpu_seconds_per_minute",
        "bench_cpu_seconds_per_minute",
        "reconciles_per_second",
        "controller_cpu_ms_per_reconcile",
        "rss_mb_window_start",
    )
    for field in (*FIELDS, *extras, "tick_lag_source", "bench_seconds"):
        if field in results:
            value = results[field]
            if isinstance(value, dict):
                value = ", ".join(f"{kind}: {number}" for kind, number in value.items())
            print(f"{field:36} {value}")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
