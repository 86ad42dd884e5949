"""When a tick writes the Rollout's status: on news at once, on progress alone at a cadence.

A rollout under analysis changes its state at every tick even when nothing is decided: the
running analysis counters, the last verdict's time, sample and evidence, and the numbers in
its message ("analysing at 10% (35s of 60s)"). Writing all that every 5 s for every
rollout is most of what the controller and the API server do at a thousand rollouts, and
nobody reads it that often. So a tick writes the status at once when something a person or
the next decision needs changed (``news``: phase, step, weight, versions, the verdict's
outcome and reason, a failure, conditions, alerts owed, commands, the inconclusive streak),
and otherwise keeps the newer state in memory (``UnsavedStates``) and writes it once per
``PERSIST_EVERY`` seconds: at the first tick in a new period of the rollout's own, so it is
never more than ``PERSIST_EVERY`` seconds and a tick old.

Each rollout's periods are offset by a phase drawn from its key (``progress_due``), so the
progress writes of rollouts started together, by one push to a thousand of them, are
spread over the period instead of coming together ``PERSIST_EVERY`` seconds later. Counted
from each write, they stayed together: every rollout's write, each a blocking request to
the API server, fell in the same few seconds, twice a minute, and held the workers from
the ticks due meanwhile (ticks up to a second late, where the rest of the time they were
on time).

Why that is safe: traffic moves only with news, and news is written in the same tick (after
the weights, as before). A crash, a lost connection or another replica taking over loses at
most ``PERSIST_EVERY`` seconds of progress: the next tick starts from the status written
last, whose analysis counters are older, so the sequential test judges one longer interval
(the counts since then, taken together): still valid at its stated level, only slower to
conclude. A newer unsaved state is used only while the Rollout is the very object it was
decided from (same resourceVersion); any other write to it (a person's command, a new spec,
another writer) drops it, and the tick decides from what the cluster holds.

The log follows the same line: one line per change people care about, not one per tick.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
import threading
import zlib

from rollout.analysis.verdicts import Verdict
from rollout.ports import Stored
from rollout.state import Condition, RolloutState, VerdictRecord

__all__ = ["PERSIST_EVERY", "UnsavedStates", "log_transition", "news"]

log = logging.getLogger("rollout.reconcile")

PERSIST_EVERY = 30.0
"""The period of progress-only writes: a status holding only older progress stays
unwritten at most this long and one tick."""

_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def news(before: RolloutState, after: RolloutState) -> bool:
    """Whether ``after`` differs from ``before`` in more than a tick's progress: the
    analysis counters, the last verdict's time, sample and evidence (its outcome, reason
    and promotability the same), and the numbers in the message and condition messages."""
    if before == after:
        return False
    return _decisive(before) != _decisive(after)


def _decisive(state: RolloutState) -> RolloutState:
    return state.model_copy(
        update={
            "analysis": {},
            "message": _shape(state.message),
            "last_verdict": _verdict_shape(state.last_verdict),
            "conditions": [_condition_shape(c) for c in state.conditions],
        }
    )


def _shape(text: str) -> str:
    """A message with its numbers left out: "analysing at 10% (35s of 60s)" and "(40s of
    60s)" are one message; a different word is news."""
    return _NUMBER.sub("#", text)


def _verdict_shape(verdict: VerdictRecord | None) -> VerdictRecord | None:
    if verdict is None:
        return None
    return verdict.model_copy(
        update={
            "reason": _shape(verdict.reason),
            "at": 0.0,
            "canary_requests": 0.0,
            "evidence": [],
        }
    )


def _condition_shape(condition: Condition) -> Condition:
    return condition.model_copy(update={"message": _shape(condition.message)})


@dataclasses.dataclass(frozen=True)
class _Unsaved:
    resource_version: str | None
    """The Rollout's resourceVersion the state was decided from (and left unwritten on)."""
    state: RolloutState
    written_at: float
    """When (the ticks' clock) the status was last written."""


class UnsavedStates:
    """Per rollout: the newest state decided but not written, and when its status was
    last written. One worker runs a rollout at a time; the lock guards the map itself."""

    def __init__(self, *, persist_every: float = PERSIST_EVERY) -> None:
        self.persist_every = persist_every
        self._kept: dict[str, _Unsaved] = {}
        self._lock = threading.Lock()

    def current(self, stored: Stored) -> RolloutState:
        """The state to decide from: the unsaved one decided from this very object, else
        the one the cluster holds."""
        with self._lock:
            kept = self._kept.get(stored.key)
        if kept is None or kept.resource_version != stored.resource_version:
            return stored.state
        return kept.state

    def must_write(self, stored: Stored, state: RolloutState, now: float) -> bool:
        """Whether ``state``, decided from ``stored``, must be written now: news against
        the status held, or progress past the rollout's next write (``progress_due``; at
        once where the status is of unknown age: the first tick since this process
        started)."""
        if state == stored.state:
            return False
        if self.persist_every <= 0 or news(stored.state, state):
            return True
        with self._lock:
            kept = self._kept.get(stored.key)
        if kept is None or math.isinf(kept.written_at):
            return True
        return now >= self.progress_due(stored.key, kept.written_at)

    def progress_due(self, key: str, written_at: float) -> float:
        """When progress alone is next written for ``key``, its status written at
        ``written_at``: the start of the rollout's next period, in ``(written_at,
        written_at + persist_every]``. The periods are offset by a phase drawn from the key
        (CRC-32: the same in every process), uniform over the period across keys."""
        phase = zlib.crc32(key.encode()) / 2**32 * self.persist_every
        period = math.floor((written_at + phase) / self.persist_every)
        return (period + 1) * self.persist_every - phase

    def written(
        self, key: str, resource_version: str | None, state: RolloutState, now: float
    ) -> None:
        """``state`` is the status now, as of ``resource_version``."""
        with self._lock:
            self._kept[key] = _Unsaved(resource_version, state, now)

    def keep(self, stored: Stored, state: RolloutState) -> None:
        """``state`` was decided from ``stored`` and left unwritten."""
        with self._lock:
            kept = self._kept.get(stored.key)
            written_at = kept.written_at if kept is not None else float("-inf")
            self._kept[stored.key] = _Unsaved(stored.resource_version, state, written_at)

    def forget(self, key: str) -> None:
        with self._lock:
            self._kept.pop(key, None)


def log_transition(before: RolloutState, after: RolloutState, verdict: Verdict | None) -> None:
    """One line per change people care about: phase, step, weight, and a non-pass verdict
    once per outcome and reason (not once per tick and rollout)."""
    moved = (before.phase, before.step_index, before.canary_weight) != (
        after.phase,
        after.step_index,
        after.canary_weight,
    )
    if moved:
        log.info(
            "%s: step %d, canary %s at %d%%: %s",
            after.phase.value,
            after.step_index,
            after.canary_version or "-",
            after.canary_weight,
            after.message,
        )
    if verdict is None or verdict.outcome.value == "pass":
        return
    last = before.last_verdict
    if last is None or (last.outcome, last.reason) != (verdict.outcome.value, verdict.reason):
        log.info("verdict %s: %s", verdict.outcome.value, verdict.reason)
