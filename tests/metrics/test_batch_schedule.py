"""When the batch asks Prometheus: one query per template per analysis interval, however
many rollouts tick and however their ticks spread over the interval or run late.

Inputs: a few hundred rollouts' ticks over several intervals, on time and late (each tick
starting when a worker is free), driven by a fake clock; a provider that answers every
batch with no series and records what it was asked. Outputs: the queries sent per
interval, and every tick served from a batch.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence

from rollout.metrics import errors
from rollout.metrics.batch import DEFAULT_INTERVAL, RENEW_AT, BatchedQueries
from rollout.metrics.observe import template_context
from rollout.ports import DEFAULT_QUERY_TIMEOUT, Series
from rollout.source.files import shipped_policies
from rollout.spec.base import seconds
from rollout.spec.policy import resolve
from rollout.spec.rollout import Analysis
from tests.metrics.clock import Clock
from tests.metrics.shop_rollouts import shop_rollout

POLICY = resolve(shipped_policies()[0], {})
TOTAL = POLICY.templates["total"]
INTERVAL = 5.0


class Answering:
    """Answers every query with no series (each workload of a batch then shares the empty
    answer), recording the queries; the batch splits its vectors directly."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self._guard = threading.Lock()

    def query(self, promql: str, *, at: float | None = None, timeout: float = 10.0) -> float:
        raise AssertionError(f"a single query was asked: {promql}")

    def query_series(
        self, promql: str, *, at: float | None = None, timeout: float = DEFAULT_QUERY_TIMEOUT
    ) -> tuple[Series, ...]:
        raise AssertionError(f"a query outside the batch was asked: {promql}")

    def query_vector(
        self, promql: str, *, at: float | None = None, timeout: float = DEFAULT_QUERY_TIMEOUT
    ) -> list[tuple[dict[str, str], float]]:
        with self._guard:
            self.asked.append(promql)
        return []

    def is_online(self) -> bool:
        return True


def contexts(count: int) -> list[dict[str, object]]:
    return [
        {**POLICY.params, **template_context(shop_rollout(f"svc-{n}"), "v2")} for n in range(count)
    ]


def run_ticks(
    batch: BatchedQueries, clock: Clock, ticks: Sequence[tuple[float, dict[str, object]]]
) -> None:
    """Each tick asks at its time, in the order of their times; a renewal started in the
    background lands before the next tick (a batch query is quick beside the gap
    between two ticks at a few hundred rollouts)."""
    for when, context in sorted(ticks, key=lambda tick: tick[0]):
        clock.now = when
        assert batch.query_series(TOTAL, context, at=when) == ()
        for thread in threading.enumerate():
            if thread.name.startswith("batch-"):
                thread.join(timeout=10)


def test_ticks_spread_over_the_interval_cost_one_query_per_interval() -> None:
    answering, clock = Answering(), Clock()
    batch = BatchedQueries(answering, interval=INTERVAL, clock=clock, monotonic=clock)
    rollouts = contexts(300)
    for context in rollouts:
        batch.join(TOTAL, context)
    passes = 8
    ticks = [
        (100.0 + k * INTERVAL + n * INTERVAL / len(rollouts), context)
        for k in range(passes)
        for n, context in enumerate(rollouts)
    ]
    run_ticks(batch, clock, ticks)
    # the first answer names every rollout; then one renewal per interval, never a
    # newcomer's query: every tick falls in an answer that named its rollout
    assert len(answering.asked) == passes
    assert all(f"svc-{n}-v2" in answering.asked[-1] for n in range(len(rollouts)))


def test_late_irregular_ticks_still_cost_about_one_query_per_interval() -> None:
    answering, clock = Answering(), Clock()
    batch = BatchedQueries(answering, interval=INTERVAL, clock=clock, monotonic=clock)
    rollouts = contexts(300)
    for context in rollouts:
        batch.join(TOTAL, context)
    passes = 12
    chance = random.Random(11)
    # the workers run behind: every tick starts 10-13 s after it was due, by a different
    # amount each time, so each rollout's gap between two ticks varies from 2 to 8 s
    ticks = [
        (100.0 + k * INTERVAL + n * INTERVAL / len(rollouts) + chance.uniform(10, 13), context)
        for k in range(passes)
        for n, context in enumerate(rollouts)
    ]
    run_ticks(batch, clock, ticks)
    span = max(when for when, _ in ticks) - min(when for when, _ in ticks)
    intervals = span / INTERVAL + 1
    # a renewal once an answer is an interval old, naming every rollout: no tick, however
    # early or late against its last gap, is asked for again as a newcomer
    assert intervals - 1 <= len(answering.asked) <= intervals + 1


def test_an_answer_serves_a_third_of_an_interval_past_its_renewal() -> None:
    answering, clock = Answering(), Clock()
    batch = BatchedQueries(answering, interval=INTERVAL, clock=clock, monotonic=clock)
    early, late = contexts(2)
    batch.join(TOTAL, early)
    batch.join(TOTAL, late)
    run_ticks(batch, clock, [(100.0, early), (100.0, late)])
    assert len(answering.asked) == 1
    # a tick within the interval: served by the answer, nothing asked
    run_ticks(batch, clock, [(104.9, early)])
    assert len(answering.asked) == 1
    assert batch.max_age == INTERVAL / RENEW_AT
    # a tick an interval later: served at once, the renewal asked in the background, at
    # that tick's time; a tick that started before it (a late worker) is served still
    run_ticks(batch, clock, [(105.0, late)])
    run_ticks(batch, clock, [(104.0, early)])
    assert len(answering.asked) == 2
    run_ticks(batch, clock, [(109.9, early), (109.9, late)])
    assert len(answering.asked) == 2


def test_the_default_interval_is_the_specs() -> None:
    default = Analysis.model_fields["interval"].default
    assert seconds(default) == DEFAULT_INTERVAL


class Refusing(Answering):
    """Refuses every batch query as a bad query (as Prometheus refuses a rewrite it cannot
    parse): each rollout is then asked on its own."""

    def query_vector(
        self, promql: str, *, at: float | None = None, timeout: float = DEFAULT_QUERY_TIMEOUT
    ) -> list[tuple[dict[str, str], float]]:
        super().query_vector(promql, at=at, timeout=timeout)
        raise errors.BadQuery("parse error")


def test_a_question_finds_its_ticket_once_until_its_batch_is_refused() -> None:
    refusing, clock = Refusing(), Clock(100.0)
    batch = BatchedQueries(refusing, interval=INTERVAL, clock=clock, monotonic=clock)
    first, second = contexts(2)
    ticket = batch.ticket(TOTAL, first)
    assert ticket is not None
    assert batch.ticket(TOTAL, first) is ticket  # remembered: no second look
    other = batch.ticket(TOTAL, second)
    assert other is not None and other.group is ticket.group  # one batch for both
    # the batch is refused: the question is asked on its own from now on
    assert batch.query_series(TOTAL, first, at=100.0) is None
    assert len(refusing.asked) == 1
    assert batch.ticket(TOTAL, first) is None
    assert batch.query_series(TOTAL, second, at=100.0) is None
    assert len(refusing.asked) == 1
