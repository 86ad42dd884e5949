"""When and how a rollback is written back to Git, off the reconcile path.

The coordinator's tick must stay quick, and a slow or unreachable Git remote must never
hold traffic decisions back. So after each reconcile the controller hands the rollout to
``WriteBackWorker.consider``, which decides (from the spec and the state alone) whether a
write-back is owed, and if so queues it on a single worker thread of its own. The worker
calls :class:`rollout.source.gitwrite.GitWriter`, then records what happened:

- an annotation on the Rollout (``canary.rollout.dev/write-back``: the revision, the
  outcome and the commit), so later ticks do not ask again;
- a Kubernetes Event (``WrittenBack``, or a warning ``WriteBackFailed``) and a log line;
- the ``rollout_write_backs_total`` counter;
- after a new commit, a Git sync, so the controller sees the reverted spec at once.

A failed write-back is retried with a growing delay, a bounded number of times. The Git
history's trailers keep the write idempotent even when the annotation could not be saved.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping

from rollout import API_GROUP
from rollout.analysis.verdicts import Evidence, Outcome
from rollout.effects import RecordEvent
from rollout.errors import RolloutError
from rollout.notify.content import check_detail, check_title
from rollout.ports import EventSink, StateStore
from rollout.source.gitwrite import GitWriter
from rollout.source.rollback_commit import Rollback, WriteOutcome, WriteResult
from rollout.spec.rollout import Rollout
from rollout.state import Phase, RolloutState

__all__ = ["WRITE_BACK_ANNOTATION", "WriteBackWorker", "rollback_owed"]

log = logging.getLogger("rollout.writeback")

WRITE_BACK_ANNOTATION = f"{API_GROUP}/write-back"
MAX_FAILURES = 5


def _revision(state: RolloutState) -> str | None:
    failed = state.failed
    return f"{failed.version}@{failed.spec_hash[:12]}" if failed is not None else None


def recorded_revision(annotations: Mapping[str, str]) -> str | None:
    """The revision the annotation says was already handled."""
    raw = annotations.get(WRITE_BACK_ANNOTATION)
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    revision = value.get("revision") if isinstance(value, dict) else None
    return revision if isinstance(revision, str) else None


def _failed_checks(state: RolloutState) -> tuple[tuple[str, ...], tuple[dict[str, object], ...]]:
    verdict = state.last_verdict
    if verdict is None or verdict.outcome == Outcome.PASS.value:
        return (), ()
    raw = [e for e in verdict.evidence if e.get("outcome") != Outcome.PASS.value]
    lines: list[str] = []
    for item in raw:
        try:
            evidence = Evidence.from_dict(item)
        except (KeyError, ValueError, TypeError):
            continue
        lines.append(f"{check_title(evidence)}: {check_detail(evidence)}")
    return tuple(lines), tuple(raw)


def rollback_owed(
    rollout: Rollout,
    state: RolloutState,
    *,
    source_path: str | None,
    annotations: Mapping[str, str],
) -> Rollback | None:
    """The rollback to write back, or None when nothing is owed.

    Owed when the spec opts in, the rollout ended RolledBack or Failed with a failed
    version, the spec still asks for that version, and the annotation does not already
    record this revision.
    """
    failed = state.failed
    stable = state.stable_version
    if not rollout.spec.write_back.enabled or source_path is None:
        return None
    if state.phase not in (Phase.ROLLED_BACK, Phase.FAILED) or failed is None or stable is None:
        return None
    if failed.version != rollout.spec.version or failed.version == stable:
        return None
    revision = _revision(state)
    if revision is None or recorded_revision(annotations) == revision:
        return None
    checks, evidence = _failed_checks(state)
    return Rollback(
        namespace=rollout.namespace,
        name=rollout.name,
        path=source_path,
        failed_version=failed.version,
        stable_version=stable,
        revision=revision,
        outcome=state.phase.value,
        reason=failed.reason,
        failed_checks=checks,
        evidence=evidence,
        spec_commit=state.commit,
        at=failed.at,
    )


@dataclasses.dataclass
class _Failures:
    count: int = 0
    retry_at: float = 0.0


class WriteBackWorker:
    """Queues owed write-backs on one thread; records each outcome."""

    def __init__(
        self,
        writer: GitWriter,
        store: StateStore,
        events: EventSink,
        *,
        on_written: Callable[[], None] = lambda: None,
        count: Callable[[str, str, str], None] = lambda namespace, name, result: None,
        retry_after: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.writer = writer
        self._store = store
        self._events = events
        self._on_written = on_written
        self._count = count
        self._retry_after = retry_after
        self._clock = clock
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="write-back"
        )
        self._guard = threading.Lock()
        self._queued: set[tuple[str, str]] = set()
        self._handled: set[tuple[str, str]] = set()
        self._failures: dict[tuple[str, str], _Failures] = {}
        self._closed = False
        self.results: list[WriteResult] = []

    def consider(
        self,
        rollout: Rollout,
        state: RolloutState,
        *,
        source_path: str | None,
        annotations: Mapping[str, str],
        uid: str = "",
    ) -> concurrent.futures.Future[None] | None:
        """Queue the write-back this rollout owes, if any; returns its future."""
        owed = rollback_owed(rollout, state, source_path=source_path, annotations=annotations)
        if owed is None:
            return None
        slot = (owed.key, owed.revision)
        with self._guard:
            failures = self._failures.get(slot)
            if self._closed or slot in self._queued or slot in self._handled:
                return None
            if failures is not None and (
                failures.count >= MAX_FAILURES or self._clock() < failures.retry_at
            ):
                return None
            self._queued.add(slot)
        settings = rollout.spec.write_back
        return self._executor.submit(self._write, owed, settings.mode, settings.branch, uid)

    def close(self, *, wait: bool = True) -> None:
        with self._guard:
            self._closed = True
        self._executor.shutdown(wait=wait, cancel_futures=not wait)
        self.writer.close()

    def _write(self, rollback: Rollback, mode: str, branch: str | None, uid: str) -> None:
        slot = (rollback.key, rollback.revision)
        try:
            try:
                result = self.writer.write_back(
                    rollback, mode="statusFile" if mode == "statusFile" else "revert", branch=branch
                )
            except RolloutError as error:
                self._failed(rollback, uid, str(error))
                return
            with self._guard:
                self._handled.add(slot)
                self._failures.pop(slot, None)
                self.results.append(result)
            self._record(rollback, uid, result)
        finally:
            with self._guard:
                self._queued.discard(slot)

    def _record(self, rollback: Rollback, uid: str, result: WriteResult) -> None:
        short = (result.commit or "")[:12]
        took = f"{result.attempts} attempt(s), {result.seconds:.2f}s"
        if result.outcome is WriteOutcome.WRITTEN:
            what = (
                f"spec.version set back to {rollback.stable_version} in {rollback.path}"
                if result.mode == "revert"
                else f"status file written beside {rollback.path}"
            )
            message = f"{what} on {result.branch}: commit {short} ({took})"
        elif result.outcome is WriteOutcome.ALREADY_WRITTEN:
            message = f"{rollback.revision} was already written back on {result.branch}: {short}"
        else:
            message = f"not written back: {result.message}"
        log.info("%s: write-back %s: %s", rollback.key, result.outcome.value, message)
        self._count(rollback.namespace, rollback.name, result.outcome.value)
        record = {
            "revision": rollback.revision,
            "outcome": result.outcome.value,
            "branch": result.branch,
            "commit": result.commit,
        }
        try:
            self._store.annotate(
                rollback.namespace,
                rollback.name,
                {WRITE_BACK_ANNOTATION: json.dumps(record, separators=(",", ":"))},
            )
        except RolloutError as error:
            log.warning("%s: write-back not recorded on the Rollout: %s", rollback.key, error)
        self._event(rollback, uid, "WrittenBack", message, warning=False)
        if result.outcome is WriteOutcome.WRITTEN:
            self._on_written()

    def _failed(self, rollback: Rollback, uid: str, error: str) -> None:
        slot = (rollback.key, rollback.revision)
        with self._guard:
            failures = self._failures.setdefault(slot, _Failures())
            failures.count += 1
            failures.retry_at = self._clock() + self._retry_after * 2 ** (failures.count - 1)
            count = failures.count
        final = " (giving up)" if count >= MAX_FAILURES else ""
        message = f"write-back of {rollback.revision} failed{final}: {error}"
        log.error("%s: %s", rollback.key, message)
        self._count(rollback.namespace, rollback.name, "failed")
        self._event(rollback, uid, "WriteBackFailed", message, warning=True)

    def _event(
        self, rollback: Rollback, uid: str, reason: str, message: str, *, warning: bool
    ) -> None:
        try:
            self._events.record(
                rollback.namespace, rollback.name, uid, RecordEvent(reason, message, warning)
            )
        except RolloutError as error:
            log.warning("%s: event %s not recorded: %s", rollback.key, reason, error)
