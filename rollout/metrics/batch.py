"""Prometheus asked once per policy query per pass, for every rollout the policy applies to.

Rollouts tick on the same beat (the work queue keeps each on its due times), so within a
pass every rollout asks the same policy templates for its own workloads. ``BatchedQueries``
sends the batch form of a template (``rollout.metrics.batch_query``) for every workload
that asked for it recently, and answers the other rollouts of the pass from that answer,
split in memory, as long as it was evaluated within ``max_age`` seconds of the time they
ask about. A workload the answer does not cover yet asks again for everyone; the workloads
that arrive while that query runs wait for it and are included in the next one, so a
burst of new rollouts (a push to all of them) costs a few queries, not one each.

A batch that Prometheus refuses as a bad query marks its template as unbatchable (it is
then queried per rollout, as before); an unreachable Prometheus is remembered for the
pass, so a thousand rollouts do not each wait for the same timeout. Each rollout's
evidence keeps its own rendered query: only the numbers come from the batch.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Mapping

from rollout.errors import MetricsError
from rollout.metrics import errors
from rollout.metrics.batch_query import BatchForm, Member, batch_form
from rollout.ports import DEFAULT_QUERY_TIMEOUT, MetricsProvider, Series

__all__ = ["BatchedQueries"]


@dataclasses.dataclass
class _Answer:
    at: float
    series: dict[Member, tuple[Series, ...]]
    error: MetricsError | None = None


@dataclasses.dataclass
class _Group:
    form: BatchForm
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    members: dict[Member, float] = dataclasses.field(default_factory=dict)
    """Each member and when (monotonic) it last asked."""
    answer: _Answer | None = None


class BatchedQueries:
    """Answers single-workload policy queries from one batch query per pass."""

    def __init__(
        self,
        provider: MetricsProvider,
        *,
        max_age: float = 2.5,
        forget_after: float = 600.0,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.provider = provider
        self.max_age = max_age
        self.forget_after = forget_after
        self._clock = clock
        self._monotonic = monotonic
        self._groups: dict[tuple[str, ...], _Group] = {}
        self._unbatchable: set[tuple[str, ...]] = set()
        self._forms: dict[tuple[str, tuple[tuple[str, str], ...]], BatchForm | None] = {}
        self._guard = threading.Lock()
        self.queries_sent = 0

    def query_series(
        self,
        template: str,
        context: Mapping[str, object],
        *,
        at: float | None = None,
        timeout: float = DEFAULT_QUERY_TIMEOUT,
    ) -> tuple[Series, ...] | None:
        """The series of ``template`` rendered with ``context``, from a batch; None when it
        must be queried on its own (the template has no batch form)."""
        form = self._form(template, context)
        if form is None:
            return None
        when = self._clock() if at is None else at
        member = form.member(context)
        with self._guard:
            group = self._groups.setdefault(form.key, _Group(form))
            # joining before taking the group's lock: whoever queries next includes us
            group.members[member] = self._monotonic()
        with group.lock:
            answer = group.answer
            usable = (
                answer is not None
                and abs(when - answer.at) <= self.max_age
                and (answer.error is not None or member in answer.series)
            )
            if answer is None or not usable:
                answer = self._ask(group, when, timeout)
                if answer is None:
                    return None
                group.answer = answer
            if answer.error is not None:
                raise answer.error
            return answer.series.get(member, ())

    def _ask(self, group: _Group, at: float, timeout: float) -> _Answer | None:
        with self._guard:
            self._forget_quiet(group)
            members = list(group.members)
        try:
            query = group.form.query(members)
            self.queries_sent += 1
            series = self.provider.query_series(query, at=at, timeout=timeout)
        except errors.BadQuery:
            with self._guard:
                self._unbatchable.add(group.form.key)
                self._groups.pop(group.form.key, None)
            return None
        except MetricsError as error:
            return _Answer(at=at, series={}, error=error)
        return _Answer(at=at, series=group.form.split(series, members))

    def _form(self, template: str, context: Mapping[str, object]) -> BatchForm | None:
        signature = (template, tuple(sorted((k, str(v)) for k, v in context.items())))
        with self._guard:
            if signature in self._forms:
                form = self._forms[signature]
            else:
                form = batch_form(template, context)
                if len(self._forms) > 10_000:
                    self._forms.clear()
                self._forms[signature] = form
            if form is None or form.key in self._unbatchable:
                return None
            return form

    def _forget_quiet(self, group: _Group) -> None:
        cutoff = self._monotonic() - self.forget_after
        for member in [m for m, seen in group.members.items() if seen < cutoff]:
            del group.members[member]
