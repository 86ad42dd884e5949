"""Prometheus asked once per policy query per analysis interval, for every rollout the policy
applies to.

Rollouts tick once per analysis interval (the work queue keeps each on its due times), so
within an interval every rollout asks the same policy templates for its own workloads.
``BatchedQueries`` sends the batch form of a template (``rollout.metrics.batch_query``) for
every workload that asked for it recently, and answers the other rollouts from that answer,
split in memory, as long as it was evaluated within ``max_age`` seconds of the time they
ask about. An answer is renewed in the background once it is one ``interval`` old (the
first tick past that asks for it and is still served by the current answer), and serves
until ``interval / RENEW_AT``: each template is asked about once per interval however the
ticks spread over it (a thousand rollouts tick all through it, and late when the workers
fall behind), and a renewal is back before its answer expires.

The numbers a tick reads are therefore up to about one interval old (a third more at
most). That is what the analysis can use anyway: Prometheus scrapes every 15 s or so
(more than the default 5 s interval), and the analysis cuts its intervals on the samples'
own timestamps (``rollout.analysis.alignment``), so canary and stable are compared over the
same seconds whatever moment the answer was evaluated at; a tick served by an older answer
sees the same samples again and closes no interval, and the next answer carries them on.
A rollout whose own analysis interval is longer than the batch's asks at its own ticks
(the answer it finds has expired, and its tick renews it); one whose interval is shorter
reads answers up to the batch's interval old.

A workload the answer does not cover yet (a rollout that just started) waits for the next
widened query, sent at most every ``min_interval`` seconds for everyone who joined
meanwhile and evaluated at the answer's own time, so a burst of new rollouts (a push to all
of them) costs a few queries, not one each; ``join`` lets a rollout enrol all its queries
before it asks the first. A new answer names every workload that asked in the last
``forget_after`` seconds: every rollout ticks once per interval, so each answer serves
nearly all of them, and however late and irregular the ticks come (a thousand rollouts on
busy workers), none is left out of a renewal to be asked for again as a newcomer. The price
is paid by the odd rollout with a longer interval (its workloads are read at renewals it
does not use) and by one that stopped asking (finished, paused, handed to another replica),
named until ``forget_after`` has passed.

A batch that Prometheus refuses as a bad query marks its template as unbatchable (it is
then queried per rollout, as before); an unreachable Prometheus is remembered for the
pass, so a thousand rollouts do not each wait for the same timeout. Each rollout's
evidence keeps its own rendered query: only the numbers come from the batch.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Mapping
from typing import NamedTuple, Protocol, cast, runtime_checkable

from rollout.errors import MetricsError
from rollout.metrics import errors
from rollout.metrics.batch_group import Answer, Group
from rollout.metrics.batch_query import BatchForm, Forms, Member
from rollout.ports import DEFAULT_QUERY_TIMEOUT, MetricsProvider, Series

__all__ = [
    "DEFAULT_INTERVAL",
    "FORGET_AFTER",
    "MAX_TICKETS",
    "RENEW_AT",
    "BatchedQueries",
    "Ticket",
    "VectorProvider",
]

DEFAULT_INTERVAL = 5.0
"""Seconds between a rollout's analysis ticks when nobody says otherwise: the spec's
default ``analysis.interval``."""

RENEW_AT = 0.75
"""An answer is renewed in the background once this share of its ``max_age`` has passed,
which is one ``interval``: its life is ``interval / RENEW_AT``. The renewal is asked once
per interval whatever the number of rollouts, and the third of an interval left is the
time it has to come back before the answer expires (a batch query naming a thousand
workloads takes a fraction of a second)."""


FORGET_AFTER = 120.0
"""Seconds after its last question a workload is no longer named in renewals: long past a
tick late by half a minute (workers far behind), short beside the minutes a finished
rollout would otherwise be read for nothing."""


MAX_TICKETS = 200_000
"""Tickets remembered (two dozen a rollout); past this many they are all forgotten at once
and found again as the rollouts ask."""

_UNKNOWN = object()


class Ticket(NamedTuple):
    """Where one rollout's question is answered: its template's batch and its member."""

    group: Group
    member: Member


@runtime_checkable
class VectorProvider(Protocol):
    """A provider that also answers with unsorted label mappings (``PrometheusProvider``):
    the batch's answers are split from those directly, in one pass."""

    def query_vector(
        self, promql: str, *, at: float | None = None, timeout: float = DEFAULT_QUERY_TIMEOUT
    ) -> list[tuple[dict[str, str], float]]: ...


class BatchedQueries:
    """Answers single-workload policy queries from one batch query per interval.

    No lock is held while a query is in flight: one caller per group asks, the others of
    the group wait for its answer (a caller already covered by the current answer does not
    wait at all: once it is one ``interval`` old the answer is renewed in the background
    while it still serves), and a newcomer is added to a fresh answer by a query of the newcomers
    only, evaluated at the answer's own time, so a burst of new rollouts never re-reads
    every rollout's series.
    """

    def __init__(
        self,
        provider: MetricsProvider,
        *,
        interval: float = DEFAULT_INTERVAL,
        min_interval: float = 0.2,
        forget_after: float = FORGET_AFTER,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"the analysis interval must be positive, not {interval}")
        self.provider = provider
        self.interval = interval
        """Seconds between a rollout's ticks: an answer is renewed once this old."""
        self.max_age = interval / RENEW_AT
        """How far from its evaluation time an answer serves a tick."""
        self.min_interval = min_interval
        self.forget_after = forget_after
        self._clock = clock
        self._monotonic = monotonic
        self._groups: dict[tuple[str, ...], Group] = {}
        self._unbatchable: set[tuple[str, ...]] = set()
        self._forms = Forms()
        self._tickets: dict[Hashable, Ticket | None] = {}
        """Each question's ticket by its key (``ticket``): one dict read or write at a time
        is atomic, and two callers that find the same ticket at once find equal ones."""
        self._guard = threading.Lock()
        """Guards the map of groups and the unbatchable forms (each group has its own guard,
        ``Group.guard``); never held while a group's guard is."""
        self.queries_sent = 0
        self._vectors = isinstance(provider, VectorProvider)
        """Checked once: a runtime protocol check walks the class at every call."""

    def query_series(
        self,
        template: str,
        context: Mapping[str, object],
        *,
        at: float | None = None,
        timeout: float = DEFAULT_QUERY_TIMEOUT,
    ) -> tuple[Series, ...] | None:
        """The series of ``template`` rendered with ``context``, from a batch; None when it
        must be queried on its own (the template has no batch form, or ``at`` is older
        than the current answer's life: a tick whose worker waited)."""
        ticket = self.ticket(template, context)
        if ticket is None:
            return None
        self.enrol(ticket)
        return self.serve(ticket, at=at, timeout=timeout)

    def ticket(
        self,
        template: str,
        context: Mapping[str, object],
        *,
        key: Hashable | None = None,
    ) -> Ticket | None:
        """``template``'s batch and ``context``'s member in it; None when the template has
        no batch form. Remembered by ``key`` (by default the template and the context's
        items: a rollout asks the same questions at every tick), so a tick's two dozen
        questions do not each look for their batch form and member again."""
        if key is None:
            key = (template, tuple(context.items()))
        try:
            found = self._tickets.get(key, _UNKNOWN)
        except TypeError:  # a context value that cannot be a key: found afresh each time
            return self._ticket(template, context)
        if found is None or (isinstance(found, Ticket) and not found.group.unbatchable):
            return found
        made = self._ticket(template, context)
        if len(self._tickets) >= MAX_TICKETS:
            self._tickets.clear()
        self._tickets[key] = made
        return made

    def enrol(self, ticket: Ticket) -> None:
        """Say ``ticket``'s member asks now: renewals name it, and the next widening adds it
        when the current answer lacks it."""
        group, member = ticket
        with group.guard:
            group.members[member] = self._monotonic()
            if group.answer is None or member not in group.answer.series:
                group.pending.add(member)

    def serve(
        self, ticket: Ticket, *, at: float | None = None, timeout: float = DEFAULT_QUERY_TIMEOUT
    ) -> tuple[Series, ...] | None:
        """``query_series`` for an enrolled ``ticket``."""
        when = self._clock() if at is None else at
        group, member = ticket
        while True:
            serve: Answer | None = None
            ahead: threading.Event | None = None
            with group.guard:
                if group.unbatchable:
                    return None
                answer = group.answer
                fresh = answer is not None and abs(when - answer.at) <= self.max_age
                if answer is not None and when < answer.at - self.max_age:
                    # a tick that started long before the current answer (its worker
                    # waited): served by the answer before, else asked on its own, never
                    # by a batch that would set the group's answer back for later ticks
                    serve = self._still_serves(group.previous, member, when)
                    if serve is None:
                        return None
                elif answer is not None and fresh:
                    if answer.error is not None:
                        raise answer.error
                    if member in answer.series:
                        serve = answer
                        ahead = self._ahead_due(group, answer, when)
                if serve is None:
                    # a newcomer this pass: one widening per min_interval serves all
                    wait = (
                        answer.asked + self.min_interval - self._monotonic()
                        if answer is not None and fresh
                        else 0.0
                    )
                    flight = group.asking
                    mine = wait <= 0 and flight is None
                    if mine:
                        flight = group.asking = threading.Event()
            if serve is not None:  # the series are built outside the guard
                if ahead is not None:
                    self._start_ahead(group, ahead, when, timeout)
                return group.built(serve, member)
            if flight is not None and not mine:
                flight.wait(timeout)  # someone else's query: its answer may cover us
                continue
            if wait > 0:
                time.sleep(wait)
                continue
            assert flight is not None
            try:
                answered = self._refresh(
                    group, answer if fresh else None, when, timeout, asking=member
                )
            finally:
                self._landed(group, flight)
            if answered is None:
                return None
            self._widen_others(group, when, timeout)
            if answered.error is not None:
                raise answered.error
            if member not in answered.series:
                return ()
            return group.built(answered, member)

    def _still_serves(self, answer: Answer | None, member: Member, when: float) -> Answer | None:
        """``answer`` when it holds ``member`` and was evaluated within ``max_age`` of
        ``when``: a tick that started before the current answer's life (its worker waited)
        is served by the answer before, as any tick in its life, instead of by a query of its
        own."""
        if answer is None or member not in answer.series:
            return None
        return answer if self._serves_at(answer, when) else None

    def _serves_at(self, answer: Answer, when: float) -> bool:
        """Whether ``answer`` serves a tick at ``when``: it did not fail, and was evaluated
        within ``max_age`` of it."""
        return answer.error is None and abs(when - answer.at) <= self.max_age

    def _ahead_due(self, group: Group, answer: Answer, when: float) -> threading.Event | None:
        """Once an answer is one interval old (``RENEW_AT`` of its life), a new one is asked
        for in the background while the current one still serves (callers never wait for a
        query the current answer covers); the flight to mark, or None. Called under the
        guard."""
        if group.asking is not None or when - answer.at < self.interval:
            return None
        if self._monotonic() - answer.asked < self.min_interval:
            return None
        group.asking = threading.Event()
        return group.asking

    def _start_ahead(
        self, group: Group, flight: threading.Event, when: float, timeout: float
    ) -> None:
        def refresh() -> None:
            try:
                self._refresh(group, None, when, timeout)
            finally:
                self._landed(group, flight)

        threading.Thread(target=refresh, name="batch-refresh", daemon=True).start()

    def _landed(self, group: Group, flight: threading.Event) -> None:
        """The group's query is over: the next may go, and its waiters look again."""
        with group.guard:
            group.asking = None
        flight.set()

    def _refresh(
        self,
        group: Group,
        fresh: Answer | None,
        when: float,
        timeout: float,
        *,
        asking: Member | None = None,
    ) -> Answer | None:
        """Ask for the group and keep the answer; None when the template turned out
        unbatchable. Without ``fresh``, a new answer for ``when``, for every member; with
        it, for the members that joined since and ``asking``, merged into it."""
        with group.guard:  # copies only: the guard is held briefly, however many members
            group.forget_quiet(self._monotonic(), self.forget_after)
            if fresh is None:
                members = list(group.members)
            else:
                wanted = {*group.pending, asking} if asking is not None else group.pending
                members = [m for m in wanted if m in group.members and m not in fresh.series]
        if not members:
            return group.answer  # nobody to ask for: the current answer stays
        if fresh is None:
            answer = self._ask(group, members, when, timeout)
        else:
            missing = members
            answer = self._ask(group, missing, fresh.at, timeout)
            if answer is not None and answer.error is None:
                answer.series = {**fresh.series, **answer.series}
                with group.guard:  # other callers add to it meanwhile
                    answer.built = dict(fresh.built)
        if answer is not None:
            with group.guard:
                current = group.answer
                if current is None or answer.at >= current.at:  # never set back in time
                    if current is not None and answer.at > current.at:
                        group.previous = current
                    group.answer = answer
                    group.pending = {m for m in group.pending if m not in answer.series}
        return answer

    def _widen_others(self, asked: Group, when: float, timeout: float) -> None:
        """Newcomers joined every template at once: widen the other batches of this pass
        now too, all at once, so their next questions are answered without waiting."""
        with self._guard:
            groups = list(self._groups.values())
        chosen: list[tuple[Group, Answer | None, threading.Event]] = []
        for group in groups:
            if group is asked:
                continue
            with group.guard:
                answer = group.answer
                if group.asking is not None or answer is None:
                    continue  # someone is asking it right now, or nobody has yet
                if not self._serves_at(answer, when):
                    continue
                if not group.pending:
                    continue
                flight = group.asking = threading.Event()
            chosen.append((group, answer, flight))
        self._refresh_all(chosen, when, timeout)

    def ask_pending(
        self, *, at: float | None = None, timeout: float = DEFAULT_QUERY_TIMEOUT
    ) -> None:
        """Ask now, in every batch with enrolled members its answer lacks and no query out,
        for those members (rollouts about to start, enrolled ahead of their first tick):
        a fresh answer is widened by them, any other renewed for every member, all batches
        at once. Their first ticks are then served without a query of their own."""
        when = self._clock() if at is None else at
        with self._guard:
            groups = list(self._groups.values())
        chosen: list[tuple[Group, Answer | None, threading.Event]] = []
        for group in groups:
            with group.guard:
                if group.asking is not None or group.unbatchable or not group.pending:
                    continue
                answer = group.answer
                fresh = answer if answer is not None and self._serves_at(answer, when) else None
                flight = group.asking = threading.Event()
            chosen.append((group, fresh, flight))
        self._refresh_all(chosen, when, timeout)

    def _refresh_all(
        self,
        chosen: list[tuple[Group, Answer | None, threading.Event]],
        when: float,
        timeout: float,
    ) -> None:
        """``_refresh`` each chosen group (marked as asked, with its fresh answer or None)
        at once, each in a thread of its own but the first; back when all have landed."""

        def refresh(group: Group, fresh: Answer | None, flight: threading.Event) -> None:
            try:
                self._refresh(group, fresh, when, timeout)
            finally:
                self._landed(group, flight)

        helpers = [
            threading.Thread(target=refresh, args=chosen_one, name="batch-widen", daemon=True)
            for chosen_one in chosen[1:]
        ]
        for helper in helpers:
            helper.start()
        if chosen:
            refresh(*chosen[0])
        for helper in helpers:
            helper.join()

    def join(self, template: str, context: Mapping[str, object]) -> None:
        """Say ``context`` will ask for ``template`` soon: the next batch includes it."""
        ticket = self.ticket(template, context)
        if ticket is not None:
            self.enrol(ticket)

    def _ticket(self, template: str, context: Mapping[str, object]) -> Ticket | None:
        """The group of ``template``'s batch form and ``context``'s member in it; None when
        the template has no batch form."""
        form = self._form(template, context)
        if form is None:
            return None
        group = self._groups.get(form.key)  # one dict read: atomic; made under the guard
        if group is None:
            with self._guard:
                group = self._groups.get(form.key)
                if group is None:
                    group = self._groups[form.key] = Group(form)
        return Ticket(group, form.member(context))

    def _ask(self, group: Group, members: list[Member], at: float, timeout: float) -> Answer | None:
        try:
            query = group.form.query(members)
            self.queries_sent += 1
            if self._vectors:
                vectors = cast(VectorProvider, self.provider)
                vector = vectors.query_vector(query, at=at, timeout=timeout)
            else:
                series = self.provider.query_series(query, at=at, timeout=timeout)
                vector = [(dict(item.labels), item.value) for item in series]
            split = group.form.group_vector(vector, members)
        except errors.BadQuery:
            with group.guard:
                group.unbatchable = True
            with self._guard:
                self._unbatchable.add(group.form.key)
                self._groups.pop(group.form.key, None)
            return None
        except MetricsError as error:
            return Answer(at=at, asked=self._monotonic(), series={}, error=error)
        return Answer(at=at, asked=self._monotonic(), series=split)

    def _form(self, template: str, context: Mapping[str, object]) -> BatchForm | None:
        form = self._forms.find(template, context)
        if form is None or form.key in self._unbatchable:
            return None
        return form
