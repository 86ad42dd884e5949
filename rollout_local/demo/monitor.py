"""Watch a demo run: traffic as Envoy counted it, the Rollout's status, and what it means.

A ``DemoMonitor`` thread takes a reading four times a second: Envoy's applied weights and
per-version request counters (``rollout_local.demo.envoy_view``) and the Rollout's status
(phase, step, last verdict with evidence). From them it

- prints live progress: each step and weight change, each verdict and why, a traffic line
  with the requests Envoy counted per version, the decision;
- measures each step: the share of requests Envoy sent to the canary while the step held,
  from counter deltas between readings whose weights were equal (intervals in which the
  weights changed are left out, so no request is attributed to the wrong step);
- keeps a timeline (weights and per-version counts per interval) for the report, and one
  ``VersionRecord`` per pushed version with its outcome and time to decision, measured
  from the canary's first request at Envoy.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from rollout.analysis.count_check import BASELINE_MESSAGE
from rollout.errors import RolloutError
from rollout.kube.store import KubeStateStore
from rollout.state import Phase, RolloutState
from rollout_local.demo.envoy_view import EnvoyView, Reading, TrafficDelta

__all__ = [
    "DemoMonitor",
    "StepRecord",
    "TimelinePoint",
    "VerdictNote",
    "VersionRecord",
    "verdict_note",
    "verdict_words",
]

log = logging.getLogger(__name__)

PROMOTED = "promoted"
ROLLED_BACK = "rolled-back"
PAUSED = "paused"


@dataclasses.dataclass
class StepRecord:
    """One canary weight as Envoy applied it, and the traffic it carried."""

    weight: int
    started_at: float
    ended_at: float | None = None
    canary_requests: int = 0
    total_requests: int = 0
    canary_errors: int = 0

    @property
    def measured_share(self) -> float | None:
        if not self.total_requests:
            return None
        return 100.0 * self.canary_requests / self.total_requests


@dataclasses.dataclass(frozen=True)
class VerdictNote:
    at: float
    outcome: str
    reason: str
    canary_requests: float
    promotable: bool
    failing: tuple[str, ...] = ()
    baseline: bool = False
    """The tick only read the canary's counters as its baseline (its first tick)."""


@dataclasses.dataclass
class VersionRecord:
    """One pushed version: its steps, verdicts and outcome."""

    version: str
    description: str
    pushed_at: float
    commit: str
    first_request_at: float | None = None
    decided_at: float | None = None
    outcome: str | None = None
    reason: str = ""
    paused_at: float | None = None
    promoted_by: str | None = None
    steps: list[StepRecord] = dataclasses.field(default_factory=list)
    verdicts: list[VerdictNote] = dataclasses.field(default_factory=list)

    @property
    def seconds_to_decision(self) -> float | None:
        if self.first_request_at is None or self.decided_at is None:
            return None
        return self.decided_at - self.first_request_at


@dataclasses.dataclass(frozen=True)
class TimelinePoint:
    """One interval between two readings: the weights at its end and what Envoy counted."""

    at: float
    weights: dict[str, int]
    requests: dict[str, int]
    errors: dict[str, int]
    canary: str | None


def evidence_numbers(item: dict[str, Any]) -> str:
    """``istio-error-ratio/errors: value 0.0373, threshold 0.01, n=268, p=0.00011``."""
    numbers = [
        f"{label} {item[key]:.4g}"
        for key, label in (("value", "value"), ("threshold", "threshold"))
        if isinstance(item.get(key), int | float)
    ]
    if isinstance(item.get("sample_size"), int | float):
        numbers.append(f"n={item['sample_size']:.0f}")
    if isinstance(item.get("p_value"), int | float):
        numbers.append(f"p={item['p_value']:.2g}")
    return f"{item.get('policy', '?')}/{item.get('check', '?')}: {', '.join(numbers)}"


class DemoMonitor:
    """Polls Envoy and the Rollout, records, and prints through ``echo``."""

    def __init__(
        self,
        *,
        envoy: EnvoyView,
        store: KubeStateStore,
        namespace: str,
        name: str,
        echo: Callable[[str], None],
        started_at: float,
        period: float = 0.25,
        traffic_every: float = 2.0,
    ) -> None:
        self._envoy = envoy
        self._store = store
        self._namespace = namespace
        self._name = name
        self._echo = echo
        self.started_at = started_at
        self._period = period
        self._traffic_every = traffic_every
        self._lock = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.versions: list[VersionRecord] = []
        self.timeline: list[TimelinePoint] = []
        self.state: RolloutState | None = None
        self._last: Reading | None = None
        self._since_push: Reading | None = None
        self._last_traffic_line = 0.0
        self._last_verdict: tuple[str, float] | None = None
        self._last_phase: tuple[str, int] | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> DemoMonitor:
        self._last = self._envoy.read()
        self._thread = threading.Thread(target=self._run, name="demo-monitor", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self._period):
            try:
                self.poll()
            except RolloutError as error:  # Envoy or the API going away at shutdown
                if not self._stop.is_set():
                    log.warning("demo monitor: %s", error)

    # -- what the story tells us -----------------------------------------------------------

    def pushed(self, version: str, *, commit: str, description: str) -> VersionRecord:
        with self._lock:
            record = VersionRecord(
                version=version, description=description, pushed_at=time.time(), commit=commit
            )
            self.versions.append(record)
            self._since_push = self._last
            return record

    def current(self) -> VersionRecord | None:
        with self._lock:
            return self.versions[-1] if self.versions else None

    def wait_until(
        self, condition: Callable[[DemoMonitor], bool], *, timeout: float | None, what: str
    ) -> None:
        """Block until ``condition(monitor)`` holds (checked after each reading); ``None``
        waits as long as it takes (a person's move), until Ctrl-C."""
        with self._lock:
            if not self._lock.wait_for(lambda: condition(self), timeout):
                raise RolloutError(f"the demo timed out after {timeout:.0f}s waiting for {what}")

    def clock(self, at: float | None = None) -> str:
        return f"{(at or time.time()) - self.started_at:6.1f}s"

    # -- one reading -----------------------------------------------------------------------

    def poll(self) -> None:
        reading = self._envoy.read()
        stored = self._store.load(self._namespace, self._name)
        with self._lock:
            self.state = stored.state
            previous, self._last = self._last, reading
            record = self.versions[-1] if self.versions else None
            if previous is not None:
                self._account(previous, reading, record)
            if record is not None:
                self._follow_status(record, stored.state)
            self._traffic_line(reading, record)
            self._lock.notify_all()

    def _account(self, previous: Reading, reading: Reading, record: VersionRecord | None) -> None:
        delta = reading.between(previous)
        canary = record.version if record is not None and record.outcome is None else None
        self.timeline.append(
            TimelinePoint(
                at=reading.at,
                weights=dict(reading.weights),
                requests=dict(delta.requests),
                errors=dict(delta.errors),
                canary=canary,
            )
        )
        if reading.weights != previous.weights:
            self._echo(f"{self.clock(reading.at)}  Envoy now routes {_weights(reading.weights)}")
        if record is None or canary is None:
            return
        weight = reading.weights.get(canary, 0)
        if set(reading.weights) == {canary}:
            weight = 0  # promoted: the route names the new version alone, this is no step
        if record.first_request_at is None and weight > 0 and delta.requests.get(canary, 0) > 0:
            record.first_request_at = reading.at
            self._echo(f"{self.clock(reading.at)}  first request to {canary} seen at Envoy")
        current = record.steps[-1] if record.steps else None
        if weight > 0 and (current is None or current.weight != weight):
            if current is not None:
                current.ended_at = reading.at
            record.steps.append(StepRecord(weight=weight, started_at=reading.at))
            return
        clean = previous.settled and reading.settled and previous.weights == reading.weights
        if current is not None and clean and weight == current.weight:
            current.canary_requests += delta.requests.get(canary, 0)
            current.canary_errors += delta.errors.get(canary, 0)
            current.total_requests += delta.total

    def _follow_status(self, record: VersionRecord, state: RolloutState) -> None:
        marker = (state.phase.value, state.step_index)
        if marker != self._last_phase and record.outcome is None and state.phase.active:
            self._last_phase = marker
            self._echo(f"{self.clock()}  {state.phase.value}: {state.message}")
        verdict = state.last_verdict
        if verdict is not None and (verdict.reason, verdict.at) != self._last_verdict:
            repeated = self._last_verdict is not None and self._last_verdict[0] == verdict.reason
            self._last_verdict = (verdict.reason, verdict.at)
            if not repeated and record.outcome is None and verdict.at >= record.pushed_at:
                self._note_verdict(record, verdict.model_dump())
        if record.outcome is not None:
            return
        if state.phase is Phase.PAUSED and state.canary_version == record.version:
            if record.paused_at is None:
                record.paused_at = time.time()
        elif state.phase is Phase.SUCCEEDED and state.stable_version == record.version:
            self._decide(record, PROMOTED, state.message)
        elif (
            state.phase in (Phase.ROLLED_BACK, Phase.FAILED)
            and state.failed is not None
            and state.failed.version == record.version
        ):
            self._decide(record, ROLLED_BACK, state.failed.reason)

    def _note_verdict(self, record: VersionRecord, verdict: dict[str, Any]) -> None:
        note = verdict_note(verdict)
        record.verdicts.append(note)
        self._echo(f"{self.clock()}  verdict {verdict_words(note)}")
        for line in note.failing:
            self._echo(f"{'':9}    failed check {line}")

    def _decide(self, record: VersionRecord, outcome: str, reason: str) -> None:
        now = time.time()
        record.outcome, record.decided_at, record.reason = outcome, now, reason
        while record.steps and not record.steps[-1].total_requests:
            record.steps.pop()  # the promotion's 100%, seen at Envoy before the status said so
        if record.steps and record.steps[-1].ended_at is None:
            record.steps[-1].ended_at = now
        took = record.seconds_to_decision
        after = f" {took:.1f}s after its first request at Envoy" if took is not None else ""
        why = "" if record.verdicts and record.verdicts[-1].outcome == "fail" else f": {reason}"
        self._echo(f"{self.clock(now)}  ==> {record.version} {outcome.upper()}{after}{why}")

    def _traffic_line(self, reading: Reading, record: VersionRecord | None) -> None:
        if reading.at - self._last_traffic_line < self._traffic_every:
            return
        self._last_traffic_line = reading.at
        since = self._since_push or self._last
        if since is None:
            return
        delta: TrafficDelta = reading.between(since)
        if not delta.total:
            return
        counts = "  ".join(
            f"{version} {delta.requests[version]:>6}"
            + (f" ({delta.errors.get(version, 0)} 5xx)" if delta.errors.get(version) else "")
            for version in sorted(delta.requests)
            if delta.requests[version]
        )
        label = f"since {record.version} was pushed" if record is not None else "so far"
        self._echo(f"{self.clock(reading.at)}  traffic at Envoy {label}: {counts}")


def verdict_note(verdict: dict[str, Any]) -> VerdictNote:
    """The Rollout status's last verdict (as plain data), as the demo keeps it."""
    evidence = verdict.get("evidence", [])
    return VerdictNote(
        at=float(verdict["at"]),
        outcome=str(verdict["outcome"]),
        reason=str(verdict["reason"]),
        canary_requests=float(verdict.get("canary_requests", 0.0)),
        promotable=bool(verdict.get("promotable", False)),
        failing=tuple(evidence_numbers(item) for item in evidence if item.get("outcome") == "fail"),
        baseline=any(item.get("message") == BASELINE_MESSAGE for item in evidence),
    )


_MARKS = {"pass": "ok", "fail": "FAIL", "inconclusive": "wait"}
"""An inconclusive verdict holds the weight: the rollout waits for data, nothing failed."""


def verdict_words(note: VerdictNote) -> str:
    """``ok   ...``, ``FAIL ...`` or ``wait ...``, and the verdict's reason.

    The first tick of a canary only records the counters' baseline: nothing was judged, and
    the line says so instead of "all checks pass" with no request counted. A later pass
    with no canary request counted yet (Prometheus has not scraped the canary's first
    requests) keeps the controller's own words.
    """
    mark = _MARKS.get(note.outcome, "?")
    reason = note.reason
    if note.outcome == "pass" and note.baseline and not note.canary_requests:
        reason = "baseline recorded: canary requests are counted from here (none yet)"
    return f"{mark:<4} {reason}"


def _weights(weights: dict[str, int] | Any) -> str:
    return " / ".join(f"{version} {weight}%" for version, weight in sorted(weights.items()))
