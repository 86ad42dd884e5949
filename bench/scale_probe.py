"""What the scale benchmark reads off the running world: requests, weights, CPU, memory, lag.

- ``RequestClock`` timestamps the local API server's request log file as it grows (read
  every 0.1 s from where it stopped) and keeps the controller's own requests (by its
  User-Agent);
- ``FirstCanaryWeight`` watches VirtualServices and notes when each first routes traffic
  to the new version;
- ``cpu_seconds`` and ``rss_mb`` read ``/proc`` for a process of the run, and
  ``usable_cores`` says how many cores their CPU time is shared over;
- ``prometheus_queries`` reads Prometheus' own count of instant queries served;
- ``tick_lag_buckets``/``histogram_quantiles``/``share_over`` read the controller's
  tick-lag histogram, and ``lags_from_reads`` derives tick lag from the request log for
  code without one.
"""

from __future__ import annotations

import bisect
import math
import os
import threading
import time
import urllib.request
from collections import defaultdict
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import kubernetes

from kubelite import RequestRecord, read_request_log

CONTROLLER_AGENT = "rollout-controller/"
TICK_LAG_METRIC = "rollout_tick_lag_seconds_bucket"
RECONCILES_METRIC = "rollout_reconcile_duration_seconds_count"
SKIPPED_TICKS_METRIC = "rollout_ticks_skipped_total"


class RequestClock:
    """The controller's API requests, each with the time it was first seen in the log."""

    def __init__(self, request_log: Path, *, every: float = 0.1) -> None:
        self._request_log = request_log
        self._offset = 0
        self._timed: list[tuple[float, RequestRecord]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._every = every
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            with self._request_log.open("rb") as log:
                log.seek(self._offset)
                text = log.read().decode()
            now = time.monotonic()
            complete = text[: text.rfind("\n") + 1]
            self._offset += len(complete.encode())
            fresh = read_request_log(complete)
            mine = [(now, r) for r in fresh if r.user_agent.startswith(CONTROLLER_AGENT)]
            with self._lock:
                self._timed.extend(mine)

    def window(self, seconds: float) -> list[tuple[float, RequestRecord]]:
        """Wait ``seconds`` and return the controller's requests seen meanwhile."""
        start = time.monotonic()
        time.sleep(seconds)
        time.sleep(2 * self._every)
        end = start + seconds
        with self._lock:
            return [(at, r) for at, r in self._timed if start <= at < end]

    def records(self) -> list[tuple[float, RequestRecord]]:
        with self._lock:
            return list(self._timed)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class FirstCanaryWeight:
    """When each VirtualService of a namespace first gives ``version`` a weight."""

    def __init__(self, api: kubernetes.client.ApiClient, namespace: str, version: str) -> None:
        self.api = api
        self.namespace = namespace
        self.version = version
        self.first_seen: dict[str, float] = {}
        self.started = threading.Event()
        self._watch = kubernetes.watch.Watch()
        self._stopped = threading.Event()

    def count(self) -> int:
        return len(self.first_seen)

    def run(self) -> None:
        custom = kubernetes.client.CustomObjectsApi(self.api)
        listed: Any = custom.list_namespaced_custom_object(
            "networking.istio.io", "v1", self.namespace, "virtualservices"
        )
        version = listed["metadata"]["resourceVersion"]
        self.started.set()
        while not self._stopped.is_set():
            try:
                for event in self._watch.stream(
                    custom.list_namespaced_custom_object,
                    "networking.istio.io",
                    "v1",
                    self.namespace,
                    "virtualservices",
                    resource_version=version,
                    timeout_seconds=30,
                ):
                    body = event["object"]
                    version = body["metadata"]["resourceVersion"]
                    name = body["metadata"]["name"]
                    if name not in self.first_seen and self._weighted(body):
                        self.first_seen[name] = time.monotonic()
            except Exception:  # a dropped stream: carry on from the last version seen
                if self._stopped.is_set():
                    return

    def _weighted(self, body: dict[str, Any]) -> bool:
        for http in body.get("spec", {}).get("http", []):
            for route in http.get("route", []):
                if route["destination"].get("subset") == self.version and route.get("weight"):
                    return True
        return False

    def stop(self) -> None:
        self._stopped.set()
        self._watch.stop()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of ``pid`` so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks / 100.0


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return math.nan


def prometheus_queries(url: str, *, handler: str = "/api/v1/query") -> float:
    """Queries Prometheus has answered since it started: instant queries, or those of
    another ``handler`` (``/api/v1/query_range``: range queries, the look-back's)."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith("prometheus_http_requests_total{") and f'"{handler}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def reconciles(metrics_text: str) -> float:
    """Reconciles the controller has run so far: its reconcile-duration histogram's count,
    summed over its series (one per rollout in older controllers)."""
    return metric_sum(metrics_text, RECONCILES_METRIC) or 0.0


def skipped_ticks(metrics_text: str) -> float | None:
    """Beats the controller's rollouts skipped after late runs so far; None from a
    controller that does not count them."""
    return metric_sum(metrics_text, SKIPPED_TICKS_METRIC)


def metric_sum(metrics_text: str, name: str) -> float | None:
    """The sum of every series of ``name`` in a ``/metrics`` page; None if it has none."""
    values = [
        float(line.rsplit(" ", 1)[1])
        for line in metrics_text.splitlines()
        if line.startswith((name + " ", name + "{"))
    ]
    return sum(values) if values else None


def tick_lag_buckets(metrics_text: str) -> dict[float, float]:
    """Cumulative bucket counts of the tick-lag histogram, summed over its series."""
    buckets: dict[float, float] = defaultdict(float)
    for line in metrics_text.splitlines():
        if line.startswith(TICK_LAG_METRIC + "{"):
            labels, value = line.rsplit(" ", 1)
            bound = labels.split('le="', 1)[1].split('"', 1)[0]
            buckets[math.inf if bound == "+Inf" else float(bound)] += float(value)
    return dict(buckets)


def histogram_quantiles(
    before: dict[float, float], after: dict[float, float], quantiles: Sequence[float]
) -> list[float]:
    """Quantiles of the observations made between two readings (linear within a bucket)."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    total = counts[-1] if counts else 0.0
    answers: list[float] = []
    for q in quantiles:
        if total <= 0:
            answers.append(math.nan)
            continue
        rank = q * total
        index = bisect.bisect_left(counts, rank)
        upper = bounds[index]
        lower = bounds[index - 1] if index > 0 else 0.0
        if math.isinf(upper):
            answers.append(lower)
            continue
        below = counts[index - 1] if index > 0 else 0.0
        inside = counts[index] - below
        share = (rank - below) / inside if inside > 0 else 1.0
        answers.append(lower + (upper - lower) * share)
    return answers


def share_over(before: dict[float, float], after: dict[float, float], bound: float) -> float:
    """The share of the observations made between two readings that were over ``bound``,
    exactly: ``bound`` must be one of the histogram's bucket edges (no interpolation)."""
    if bound not in after:
        raise ValueError(f"{bound} is not a bucket edge of the histogram: {sorted(after)}")
    total = after[math.inf] - before.get(math.inf, 0.0)
    if total <= 0:
        return math.nan
    within = after[bound] - before.get(bound, 0.0)
    return (total - within) / total


def lags_from_reads(records: list[tuple[float, RequestRecord]], interval: float) -> list[float]:
    """Tick lag from the request log: the gap between two reconcile starts of a rollout,
    minus the interval. A reconcile starts with a read of its Rollout; reads less than a
    second apart belong to the same reconcile."""
    starts: dict[str, list[float]] = defaultdict(list)
    for at, record in records:
        if record.verb == "get" and record.resource == "rollouts" and not record.subresource:
            times = starts[record.name]
            if not times or at - times[-1] > 1.0:
                times.append(at)
    lags: list[float] = []
    for times in starts.values():
        lags.extend(max(0.0, later - earlier - interval) for earlier, later in pairwise(times))
    return lags


def quantile(values: Sequence[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least one."""
    return max(1, len(os.sched_getaffinity(0)))
