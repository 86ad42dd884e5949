"""Turn rendered policies and a metrics provider into one tick's observations.

The I/O half of the analysis: for each policy, render its queries for the canary and the
stable version with the built-in template context, ask the provider, and record either
the series or the reason there are none (a policy's ``sampled`` query becomes the sample
times of its counter readings) (``rollout.analysis.observations.Reading``). The
pure half, ``rollout.analysis.judge``, decides what the numbers mean. This function never
raises a metrics error: a failed query is an observation too.

Built-in placeholders, per version: ``namespace``, ``service``, ``workload`` (the
Deployment name), ``version``, ``subset``, ``window`` (a trailing window for ``rate()``
and ``histogram_quantile()``, at least four scrape intervals; 1m by default) and
``interval`` (the analysis interval).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from rollout.analysis.observations import (
    COUNT_FIELDS,
    POD_COUNT_FIELDS,
    POD_SAMPLED_FIELD,
    SAMPLED_FIELD,
    PolicyObservation,
    Reading,
    ReadingProblem,
)
from rollout.errors import MetricsError, TemplateError
from rollout.metrics import errors
from rollout.metrics.batch import BatchedQueries, Ticket
from rollout.metrics.look_back import LookBack, enrol_look_back, stable_history
from rollout.ports import DEFAULT_QUERY_TIMEOUT, MetricsProvider
from rollout.spec.base import seconds
from rollout.spec.policy import RenderedPolicy
from rollout.spec.rollout import Rollout

__all__ = [
    "DEFAULT_WINDOW",
    "enrol_first_tick",
    "observe",
    "promql_duration",
    "template_context",
]

DEFAULT_WINDOW = "1m"

_PROBLEMS: tuple[tuple[type[MetricsError], ReadingProblem], ...] = (
    (errors.Unreachable, ReadingProblem.UNREACHABLE),
    (errors.BadQuery, ReadingProblem.BAD_QUERY),
    (errors.NoData, ReadingProblem.NO_DATA),
    (errors.NotANumber, ReadingProblem.NOT_A_NUMBER),
    (errors.SeveralSeries, ReadingProblem.SEVERAL_SERIES),
)


def promql_duration(value: str | int | float) -> str:
    """A spec duration as PromQL accepts it (whole seconds, or milliseconds)."""
    total = seconds(value)
    return f"{total:.0f}s" if total == int(total) else f"{round(total * 1000)}ms"


def template_context(
    rollout: Rollout, version: str, *, window: str = DEFAULT_WINDOW
) -> dict[str, str]:
    """The built-in placeholders for one version of one rollout."""
    return {
        "namespace": rollout.namespace,
        "service": rollout.service,
        "workload": rollout.deployment_for(version),
        "version": version,
        "subset": rollout.subset_for(version),
        "window": window,
        "interval": promql_duration(rollout.spec.analysis.interval),
    }


def observe(
    policies: Sequence[RenderedPolicy],
    provider: MetricsProvider,
    *,
    canary: Mapping[str, object],
    stable: Mapping[str, object] | None,
    at: float | None = None,
    timeout: float = DEFAULT_QUERY_TIMEOUT,
    batch: BatchedQueries | None = None,
    look_back: LookBack | None = None,
) -> dict[str, PolicyObservation]:
    """Query every policy for the canary (and stable, when its context is given).

    ``canary``/``stable`` are template contexts (``template_context``). Once the provider
    is found unreachable, the remaining queries of the tick are not sent: they would each
    wait for the same timeout. With ``batch``, answers come from one query per template
    for every rollout of the pass where the template allows it; each reading still names
    its own rendered query. With ``look_back`` (the baseline tick), each count policy's
    observation also carries stable's counters over it (``rollout.metrics.look_back``).
    """
    session = _Session(provider, at=at, timeout=timeout, batch=batch)
    questions = _enrolled_questions(policies, canary=canary, stable=stable, batch=batch)
    histories = (
        stable_history(
            policies,
            provider,
            stable=stable,
            at=at if at is not None else time.time(),
            look_back=look_back,
            timeout=timeout,
        )
        if look_back is not None and stable is not None
        else {}
    )
    observed: dict[str, PolicyObservation] = {}
    for policy in policies:
        canary_readings = _stamped(session.read_all(questions[policy.name, 0]))
        stable_readings = (
            _stamped(session.read_all(questions[policy.name, 1])) if stable is not None else {}
        )
        observed[policy.name] = PolicyObservation(
            policy=policy.name,
            canary=canary_readings,
            stable=stable_readings,
            history=histories.get(policy.name, {}),
        )
    return observed


def enrol_first_tick(
    policies: Sequence[RenderedPolicy],
    *,
    canary: Mapping[str, object],
    stable: Mapping[str, object] | None,
    at: float,
    batch: BatchedQueries | None,
    look_back: LookBack | None,
) -> None:
    """Enrol, without asking, what a rollout's first tick will ask: every policy query for
    both versions in ``batch`` and stable's look-back in ``look_back``'s ranges. The caller
    asks for everyone enrolled at once (``BatchedQueries.ask_pending``,
    ``BatchedRanges.ask_pending``): after a push, the first ticks are then served from
    answers asked while their specs were being mirrored."""
    _enrolled_questions(policies, canary=canary, stable=stable, batch=batch)
    if look_back is not None and stable is not None:
        enrol_look_back(policies, stable=stable, at=at, look_back=look_back)


def _enrolled_questions(
    policies: Sequence[RenderedPolicy],
    *,
    canary: Mapping[str, object],
    stable: Mapping[str, object] | None,
    batch: BatchedQueries | None,
) -> dict[tuple[str, int], _Questions]:
    """Each policy's questions for the canary (0) and stable (1), every one enrolled in
    ``batch``: the first batch query of the tick covers them all."""
    contexts = [canary] if stable is None else [canary, stable]
    questions = {
        (policy.name, index): _Questions(policy, context, batch)
        for policy in policies
        for index, context in enumerate(contexts)
    }
    if batch is not None:
        for asked in questions.values():
            for ticket in asked.tickets.values():
                if ticket is not None:
                    batch.enrol(ticket)
    return questions


_MAY_BE_EMPTY = COUNT_FIELDS | POD_COUNT_FIELDS | {SAMPLED_FIELD, POD_SAMPLED_FIELD}
"""Fields whose empty answer is a reading (no series yet), not a failure."""

_STAMPED = ((SAMPLED_FIELD, COUNT_FIELDS), (POD_SAMPLED_FIELD, POD_COUNT_FIELDS))
"""Each sample-time field, and the counter fields it gives the sample times of."""


def _stamped(readings: dict[str, Reading]) -> dict[str, Reading]:
    """Counter readings with the sample times a policy's ``sampled`` (and ``podSampled``)
    query returned (one mapping of them, shared by the counters it stamps: nothing changes
    a reading's mappings)."""
    for sampled_field, counters in _STAMPED:
        sampled = readings.pop(sampled_field, None)
        if sampled is None or not sampled.ok:
            continue
        stamps = dict(sampled.series)
        for field in counters:
            reading = readings.get(field)
            if reading is not None and reading.ok:
                readings[field] = Reading(query=reading.query, series=reading.series, stamps=stamps)
    return readings


class _Questions:
    """One policy's queries for one version: rendered (or why they cannot be), and where
    the batch answers each (``BatchedQueries.ticket``)."""

    def __init__(
        self, policy: RenderedPolicy, context: Mapping[str, object], batch: BatchedQueries | None
    ) -> None:
        self.policy = policy
        merged = {**policy.params, **context}
        self.problem: TemplateError | None = None
        self.queries: dict[str, str] = {}
        try:
            self.queries = policy.queries_for(context)
        except TemplateError as error:
            self.problem = error
        self.tickets: dict[str, Ticket | None] = {}
        if batch is not None and self.problem is None:
            items = tuple(merged.items())
            self.tickets = {
                field: batch.ticket(template, merged, key=(template, items))
                for field, template in policy.templates.items()
            }


class _Session:
    """One tick's queries: remembers answers and whether the provider is down."""

    def __init__(
        self,
        provider: MetricsProvider,
        *,
        at: float | None,
        timeout: float,
        batch: BatchedQueries | None = None,
    ) -> None:
        self.provider = provider
        self.batch = batch
        self.at = at
        self.timeout = timeout
        self.down: str | None = None
        self.answers: dict[str, Reading] = {}

    def read_all(self, asked: _Questions) -> dict[str, Reading]:
        if asked.problem is not None:
            return {
                field: Reading.failed(template, ReadingProblem.BAD_QUERY, str(asked.problem))
                for field, template in asked.policy.templates.items()
            }
        return {
            field: self.read(field, query, ticket=asked.tickets.get(field))
            for field, query in asked.queries.items()
        }

    def read(self, field: str, query: str, *, ticket: Ticket | None = None) -> Reading:
        if query in self.answers:
            return self.answers[query]
        if self.down is not None:
            return Reading.failed(query, ReadingProblem.UNREACHABLE, self.down)
        try:
            series = None
            if self.batch is not None and ticket is not None:
                series = self.batch.serve(ticket, at=self.at, timeout=self.timeout)
            if series is None:
                series = self.provider.query_series(query, at=self.at, timeout=self.timeout)
        except MetricsError as error:
            problem = next(
                (kind for cls, kind in _PROBLEMS if isinstance(error, cls)), ReadingProblem.ERROR
            )
            if problem is ReadingProblem.UNREACHABLE:
                self.down = str(error)
            reading = Reading.failed(query, problem, str(error))
        else:
            reading = Reading(query=query, series={s.key: s.value for s in series})
            if field not in _MAY_BE_EMPTY and not series:
                reading = Reading.failed(
                    query, ReadingProblem.NO_DATA, "no data: the query returned an empty result"
                )
        self.answers[query] = reading
        return reading
