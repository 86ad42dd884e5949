"""The rollouts sharing one batch query, and the answers it got: who asks, when they tick,
and what each answer holds for them.

``rollout.metrics.batch`` decides when to ask Prometheus; this module keeps the records it
decides from. A group is one template's batch form; its members are the workloads that
asked (each renewal names them all), and members that stopped asking are forgotten. An
answer keeps each member's share of Prometheus' reply as it came (``RawSeries``) and builds
a member's series on its first ask. Every method is called with the group's guard held but
``built``, which only reads a dict and sets one entry (each atomic in the interpreter), so
building a member's series keeps no other worker waiting; none does I/O.
"""

from __future__ import annotations

import dataclasses
import threading

from rollout.errors import MetricsError
from rollout.metrics.batch_query import BatchForm, Member, RawSeries
from rollout.ports import Series

__all__ = ["SWEEP_EVERY", "Answer", "Group"]

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
