"""The controller's own Prometheus metrics, behind methods named for what happened.

The controller reports what it is doing (rollouts per phase, canary weights, analysis
verdicts, reconcile latency and errors, Git sync health, alert delivery, leadership) on
``/metrics``. The metrics live in a dedicated :class:`prometheus_client.CollectorRegistry`
owned by one :class:`ControllerMetrics`, never in the library's global registry, so tests
and several controllers in one process do not clash over metric names.

Callers never touch a metric object: they call ``set_rollout_phases``,
``count_verdict``, ``time_reconcile`` and the like, which keeps label names and values
in one place. Names follow Prometheus conventions: base units (seconds), ``_total`` on
counters, ``_timestamp_seconds`` on Unix times.
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import NamedTuple

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder

__all__ = ["RECONCILE_BUCKETS", "TICK_LAG_BUCKETS", "ControllerMetrics", "RolloutPhase"]

#: Reconcile latency buckets (seconds): a tick is mostly a few API calls and one
#: Prometheus query, so most land between 5 ms and 2 s; the tail covers slow backends.
RECONCILE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

#: Tick lag buckets (seconds): how late a rollout's run started after it was due. Healthy
#: is well under a second; several seconds means the workers cannot keep up. Every 100 ms
#: from 0.1 to 1 s: a p99 read from coarser buckets is interpolated across half a second
#: around the 1 s it is held to (a p99 of 0.55 s and one of 0.95 s read alike), and the
#: share of ticks later than 1 s is exact (the ``le="1.0"`` bucket).
TICK_LAG_BUCKETS = (
    0.01,
    0.025,
    0.05,
    0.1,
    0.2,
    0.3,
    0.4,
    0.5,
    0.6,
    0.7,
    0.8,
    0.9,
    1.0,
    1.5,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)


class RolloutPhase(NamedTuple):
    """One rollout's phase as seen by the latest tick."""

    namespace: str
    name: str
    phase: str


class ControllerMetrics:
    """All metrics the controller exports, in a registry of their own.

    ``known_phases`` are reported with a value of 0 when no rollout is in them, so a
    dashboard sees ``rollout_rollouts{phase="Failed"} 0`` rather than no series at all.
    """

    def __init__(self, *, known_phases: Iterable[str] = ()) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._known_phases = tuple(known_phases)
        self._phase_labels: set[str] = set()
        self._weighted_rollouts: set[tuple[str, str]] = set()

        self._rollouts = Gauge(
            "rollout_rollouts",
            "Rollouts known to the controller, by phase, as of the latest tick.",
            ["phase"],
            registry=self.registry,
        )
        self._canary_weight = Gauge(
            "rollout_canary_weight",
            "Share of traffic (percent, 0-100) currently routed to the canary.",
            ["namespace", "rollout"],
            registry=self.registry,
        )
        self._verdicts = Counter(
            "rollout_analysis_verdicts_total",
            "Analysis verdicts reached, by policy and outcome.",
            ["namespace", "rollout", "policy", "outcome"],
            registry=self.registry,
        )
        self._reconcile_duration = Histogram(
            "rollout_reconcile_duration_seconds",
            "Wall time of one reconcile of one rollout, over all rollouts (a series set per "
            "rollout would be fourteen series each: 140,000 at 10,000 rollouts).",
            buckets=RECONCILE_BUCKETS,
            registry=self.registry,
        )
        self._tick_lag = Histogram(
            "rollout_tick_lag_seconds",
            "How late each rollout run started after it was due, over all rollouts.",
            buckets=TICK_LAG_BUCKETS,
            registry=self.registry,
        )
        self._ticks_skipped = Counter(
            "rollout_ticks_skipped_total",
            "Beats a rollout skipped because its last run started more than half an interval "
            "late (its next run would have come too soon to read anything new).",
            registry=self.registry,
        )
        self._reconcile_errors = Counter(
            "rollout_reconcile_errors_total",
            "Reconciles that ended in an error, by error kind.",
            ["namespace", "rollout", "kind"],
            registry=self.registry,
        )
        self._git_last_sync = Gauge(
            "rollout_git_last_sync_timestamp_seconds",
            "Unix time of the latest successful Git sync (0 before the first).",
            registry=self.registry,
        )
        self._git_syncs = Counter(
            "rollout_git_sync_total",
            "Git syncs attempted, by result (success or failure).",
            ["result"],
            registry=self.registry,
        )
        self._alerts = Counter(
            "rollout_alerts_total",
            "Alerts sent, by target, event and result (sent or failed).",
            ["target", "event", "result"],
            registry=self.registry,
        )
        self._webhooks = Counter(
            "rollout_webhook_requests_total",
            "Push webhook requests received, by hook and outcome.",
            ["hook", "outcome"],
            registry=self.registry,
        )
        self._write_backs = Counter(
            "rollout_write_backs_total",
            "Git write-backs after a rollback, by result "
            "(written, alreadyWritten, superseded, failed).",
            ["namespace", "rollout", "result"],
            registry=self.registry,
        )
        self._spec_files_invalid = Gauge(
            "rollout_spec_files_invalid",
            "Spec files of the latest sync with a problem: unreadable (a link, too large, "
            "binary, a submodule), not YAML or over a reading limit, or an invalid document.",
            registry=self.registry,
        )
        self._conditions = Gauge(
            "rollout_controller_condition",
            "1 while the controller's condition holds, else 0 (see /readyz for why).",
            ["condition"],
            registry=self.registry,
        )
        self._leader = Gauge(
            "rollout_leader",
            "1 while this replica holds the leader lease, else 0.",
            registry=self.registry,
        )
        self.set_rollout_phases([])

    # -- rollouts ------------------------------------------------------------------------

    def set_rollout_phases(self, rollouts: Iterable[RolloutPhase | tuple[str, str, str]]) -> None:
        """Replace the per-phase rollout counts with those of ``rollouts``.

        Call it once per tick with every rollout the controller knows. Phases no longer
        present drop to 0 (known phases) or disappear (others), and the canary weight
        series of rollouts that are gone are removed.
        """
        rows = [RolloutPhase(*row) for row in rollouts]
        counts = Tally(row.phase for row in rows)
        for phase in self._phase_labels - set(counts) - set(self._known_phases):
            self._rollouts.remove(phase)
        for phase in self._known_phases:
            self._rollouts.labels(phase=phase).set(counts.get(phase, 0))
        for phase, count in counts.items():
            self._rollouts.labels(phase=phase).set(count)
        self._phase_labels = set(counts) | set(self._known_phases)

        present = {(row.namespace, row.name) for row in rows}
        for namespace, name in self._weighted_rollouts - present:
            self._canary_weight.remove(namespace, name)
        self._weighted_rollouts &= present

    def set_canary_weight(self, namespace: str, rollout: str, weight: float) -> None:
        """Record the canary's current traffic share, in percent."""
        self._canary_weight.labels(namespace=namespace, rollout=rollout).set(weight)
        self._weighted_rollouts.add((namespace, rollout))

    def forget_rollout(self, namespace: str, rollout: str) -> None:
        """Drop the canary weight series of a deleted rollout (counters are kept)."""
        if (namespace, rollout) in self._weighted_rollouts:
            self._canary_weight.remove(namespace, rollout)
            self._weighted_rollouts.discard((namespace, rollout))

    # -- analysis and reconcile ----------------------------------------------------------

    def count_verdict(self, namespace: str, rollout: str, *, policy: str, outcome: str) -> None:
        """Count one verdict (``outcome`` is e.g. ``pass``, ``fail``, ``inconclusive``)."""
        self._verdicts.labels(
            namespace=namespace, rollout=rollout, policy=policy, outcome=outcome
        ).inc()

    def observe_reconcile(self, seconds: float) -> None:
        """Record the duration of one reconcile (of any rollout)."""
        self._reconcile_duration.observe(seconds)

    def observe_tick_lag(self, seconds: float) -> None:
        """Record how late one rollout run started after its due time."""
        self._tick_lag.observe(seconds)

    def count_skipped_ticks(self, beats: int) -> None:
        """Count the beats a late run made its rollout skip."""
        self._ticks_skipped.inc(beats)

    @contextmanager
    def time_reconcile(self) -> Iterator[None]:
        """Time the enclosed reconcile; it is observed even when the block raises."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.observe_reconcile(time.perf_counter() - started)

    def count_reconcile_error(self, namespace: str, rollout: str, *, kind: str) -> None:
        """Count one failed reconcile; ``kind`` is a short class of error (its type name)."""
        self._reconcile_errors.labels(namespace=namespace, rollout=rollout, kind=kind).inc()

    # -- Git, alerts, webhooks, leadership -----------------------------------------------

    def record_git_sync(self, *, success: bool, at: float | None = None) -> None:
        """Count one Git sync; a success also sets the last-sync time (default: now)."""
        self._git_syncs.labels(result="success" if success else "failure").inc()
        if success:
            self._git_last_sync.set(time.time() if at is None else at)

    def count_alert(self, *, target: str, event: str, sent: bool) -> None:
        """Count one alert delivery attempt to ``target`` (a target name, never its URL)."""
        self._alerts.labels(target=target, event=event, result="sent" if sent else "failed").inc()

    def count_webhook(self, *, hook: str, outcome: str) -> None:
        """Count one push webhook request (``outcome``: accepted, ignored, unauthorized...)."""
        self._webhooks.labels(hook=hook, outcome=outcome).inc()

    def count_write_back(self, namespace: str, rollout: str, *, result: str) -> None:
        """Count one Git write-back attempt of a rollback and how it ended."""
        self._write_backs.labels(namespace=namespace, rollout=rollout, result=result).inc()

    def set_spec_files_invalid(self, count: int) -> None:
        """Record how many spec files of the latest sync have a problem."""
        self._spec_files_invalid.set(count)

    def set_condition(self, condition: str, holds: bool) -> None:
        """Record whether one of the controller's own conditions holds."""
        self._conditions.labels(condition=condition).set(1 if holds else 0)

    def forget_condition(self, condition: str) -> None:
        """Drop a condition's gauge: this replica no longer knows whether it holds."""
        self._conditions.remove(condition)

    def set_leader(self, leading: bool) -> None:
        """Record whether this replica currently leads."""
        self._leader.set(1 if leading else 0)

    # -- exposition ----------------------------------------------------------------------

    def exposition(self, accept: str | None = None) -> tuple[bytes, str]:
        """The registry rendered for a scrape: ``(body, content_type)``.

        The classic text format unless the scraper's ``Accept`` header asks for OpenMetrics.
        """
        encode, content_type = choose_encoder(accept or "")
        return encode(self.registry), content_type
