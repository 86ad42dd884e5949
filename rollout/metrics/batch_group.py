"""The rollouts sharing one batch query, and the answers it got: who asks, when they tick,
and what each answer holds for them.

``rollout.metrics.batch`` decides when to ask Prometheus; this module keeps the records it
decides from. A group is one template's batch form; its members are the workloads that
asked. Each member's ticks are noted so that a new answer asks only for the members that
may tick during its life, and members that stopped asking are forgotten. An answer keeps
each member's share of Prometheus' reply as it came (``RawSeries``) and builds a member's
series on its first ask. Every method is called with the group's guard held but
``built`` and ``may_ask``, which only read a dict and set one entry (each atomic in the
interpreter), so building a member's series and choosing a renewal's members keep no
other worker waiting; none does I/O.
"""

from __future__ import annotations

import collections
import dataclasses
import threading

from rollout.errors import MetricsError
from rollout.metrics.batch_query import BatchForm, Member, RawSeries
from rollout.ports import Series

__all__ = ["EARLY_QUANTILE", "EARLY_SEEN", "SWEEP_EVERY", "TICK_MARGIN", "Answer", "Group"]

TICK_MARGIN = 0.2
"""A renewal leaves out a member whose next tick is due after the new answer's life by more
than this share of ``max_age`` (a tick may start a little earlier than its gap says), or
by more than the recent ticks came early (``EARLY_QUANTILE``), whichever is larger."""

EARLY_SEEN = 512
"""Recent ticks whose earliness (how much sooner than their last gap said) is kept."""

EARLY_QUANTILE = 0.95
"""The share of recent ticks a renewal's margin would have covered. When the workers fall
behind, ticks start when a worker is free, not on their beat, and each one's gap differs
from the last by seconds; a fixed margin then leaves most ticks out of the renewal, and
each is added by a query of its own (one per ``min_interval`` per template). The margin
follows how early ticks came instead: a fraction of a second on the beat, seconds behind
it. A quantile, not the maximum: one rollout back from a long backoff would otherwise widen
every renewal to every member."""

SWEEP_EVERY = 5.0
"""Seconds between two looks for members that stopped asking (each look is one pass over
every member of the group)."""


@dataclasses.dataclass
class Answer:
    """One batch query's reply, split per member."""

    at: float
    """The evaluation time asked of Prometheus."""
    asked: float
    """When (monotonic) the query was answered."""
    series: dict[Member, RawSeries[float]]
    """Each member's share of the answer; its series are built when it asks
    (``BatchForm.series_of``): an answer serves only the members whose tick falls in its
    life, and the others' shares are never built."""
    error: MetricsError | None = None
    built: dict[Member, tuple[Series, ...]] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Group:
    """The members of one batch form, its current answer and the query in flight."""

    form: BatchForm
    members: dict[Member, float] = dataclasses.field(default_factory=dict)
    """Each member and when (monotonic) it last asked."""
    answer: Answer | None = None
    previous: Answer | None = None
    """The answer before ``answer``: it still serves ticks that started before it."""
    asking: threading.Event | None = None
    """Set while one caller's query for this group is in flight (the others wait on it)."""
    unbatchable: bool = False
    pending: set[Member] = dataclasses.field(default_factory=set)
    """Members that joined since the current answer was asked and that it lacks."""
    swept: float = 0.0
    """When (monotonic) members that stopped asking were last forgotten."""
    ticked: dict[Member, tuple[float, float | None]] = dataclasses.field(default_factory=dict)
    """Each member's last tick (the time it asked about) and the gap before it, once seen."""
    early: collections.deque[float] = dataclasses.field(
        default_factory=lambda: collections.deque(maxlen=EARLY_SEEN)
    )
    """How much sooner than its last gap said each recent tick came (0 when on time or late)."""
    guard: threading.Lock = dataclasses.field(
        default_factory=threading.Lock, repr=False, compare=False
    )
    """Guards this group's members, answers and flight; never held across a query. One per
    group, not one for the batch: every worker asks every group at each tick, and with one
    lock for all of them the workers spent half their time waiting for it."""

    def built(self, answer: Answer, member: Member) -> tuple[Series, ...]:
        """The member's series from ``answer``, built on its first ask."""
        found = answer.built.get(member)
        if found is None:
            found = answer.built[member] = self.form.series_of(answer.series[member])
        return found

    def note_tick(self, member: Member, when: float, apart: float) -> None:
        """Remember the tick ``member`` asks for, and the gap since its previous one (the
        queries of one tick come within ``apart`` of each other, and two ticks further
        apart: half an interval)."""
        last = self.ticked.get(member)
        if last is None:
            self.ticked[member] = (when, None)
        elif when - last[0] > apart:
            if last[1] is not None:
                self.early.append(max(0.0, last[0] + last[1] - when))
            self.ticked[member] = (when, when - last[0])

    def tick_margin(self, max_age: float) -> float:
        """How much earlier than one gap after its last tick a member may tick and still
        be in a renewal: ``TICK_MARGIN`` of ``max_age``, or the ``EARLY_QUANTILE`` of how
        early the recent ticks came, whichever is larger."""
        floor = max_age * TICK_MARGIN
        if not self.early:
            return floor
        ordered = sorted(self.early)
        return max(floor, ordered[min(len(ordered) - 1, int(len(ordered) * EARLY_QUANTILE))])

    def may_ask(self, member: Member, at: float, max_age: float, margin: float) -> bool:
        """Whether ``member`` may ask during the life of an answer evaluated at ``at``: any
        member but one whose next tick, one gap after its last, comes after that life by
        more than ``margin`` (``tick_margin``). A member left out that asks after all is
        added as a newcomer."""
        last, gap = self.ticked.get(member, (0.0, None))
        return gap is None or last + gap <= at + max_age + margin

    def forget_quiet(self, now: float, forget_after: float) -> None:
        """Forget the members that have not asked for ``forget_after`` seconds (looked for
        every few seconds, not at every query)."""
        if now - self.swept < min(forget_after / 10, SWEEP_EVERY):
            return
        self.swept = now
        cutoff = now - forget_after
        for member in [m for m, seen in self.members.items() if seen < cutoff]:
            del self.members[member]
            self.pending.discard(member)
            self.ticked.pop(member, None)
