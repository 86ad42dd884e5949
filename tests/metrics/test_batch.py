"""Batched policy queries against a real Prometheus: the same numbers as one query per
workload, one query per template per pass, newcomers on their own once, and failures.

Inputs: the shipped policies, the exporter's counters for several workloads (errors, no
errors, no series at all), and a provider that counts what it is asked. Outputs: each
workload's series from the batch compared with its own query's, and the queries sent.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence

import pytest

from rollout.errors import MetricsError
from rollout.metrics import errors
from rollout.metrics.batch import BatchedQueries
from rollout.metrics.observe import enrol_first_tick, observe, template_context
from rollout.metrics.prometheus import PrometheusProvider, PrometheusSettings
from rollout.ports import DEFAULT_QUERY_TIMEOUT, MetricsProvider, Series
from rollout.source.files import shipped_policies
from rollout.spec.policy import RenderedPolicy, resolve
from tests.metrics.clock import Clock
from tests.metrics.exporter import IstioExporter
from tests.metrics.shop_rollouts import shop_rollout
from tests.metrics.stack import wait_for_scrape

pytestmark = pytest.mark.slow

POLICIES = [resolve(policy, {}) for policy in shipped_policies()]
TOTAL = POLICIES[0].templates["total"]
"""The first shipped policy's request count: the template the single-template tests ask."""
WORKLOADS = ("batch-a-v1", "batch-a-v2", "batch-b-v1", "batch-b-v2", "batch-c-v1")


class Counting:
    """The real provider, counting the queries it is asked."""

    def __init__(self, provider: PrometheusProvider) -> None:
        self.provider = provider
        self.asked: list[str] = []

    def query(self, promql: str, *, at: float | None = None, timeout: float = 10.0) -> float:
        self.asked.append(promql)
        return self.provider.query(promql, at=at, timeout=timeout)

    def query_series(
        self, promql: str, *, at: float | None = None, timeout: float = DEFAULT_QUERY_TIMEOUT
    ) -> tuple[Series, ...]:
        self.asked.append(promql)
        return self.provider.query_series(promql, at=at, timeout=timeout)

    def is_online(self) -> bool:
        return self.provider.is_online()


@pytest.fixture(scope="module")
def scraped(exporter: IstioExporter, provider: PrometheusProvider) -> Iterator[None]:
    exporter.record("batch-a-v1", requests=500, duration_ms=40)
    exporter.record("batch-a-v2", requests=40, duration_ms=40)
    exporter.record("batch-a-v2", requests=4, code="500", duration_ms=400)
    exporter.record("batch-b-v1", requests=300, duration_ms=300)
    exporter.record("batch-b-v1", requests=2, code="503", duration_ms=10)
    exporter.record("batch-b-v2", requests=10, duration_ms=5)
    # batch-c-v1 has no series at all
    wait_for_scrape(provider, 'sum(istio_requests_total{destination_workload=~"batch-.*"})', 856)
    time.sleep(2.5)  # a few samples for rate() in the latency policy
    yield


def values(series: tuple[Series, ...]) -> dict[str, float]:
    return {item.key: item.value for item in series}


def counted_batch(
    provider: PrometheusProvider, *, interval: float, min_interval: float = 0.2
) -> tuple[Counting, BatchedQueries]:
    """A batch over the real provider, and the queries it sends (an answer of a batch
    renewed every ``interval`` serves a third of an interval more: 1.5 s gives 2 s)."""
    counting = Counting(provider)
    return counting, BatchedQueries(counting, interval=interval, min_interval=min_interval)


def asked_after(
    batch: BatchedQueries,
    counting: Counting,
    ticks: Sequence[tuple[float, dict[str, object]]],
    then: tuple[float, dict[str, object]],
    *,
    start: float,
) -> list[str]:
    """The queries ``then`` sends, after ``ticks`` (each at ``start`` plus its offset)."""
    for offset, context in ticks:
        batch.query_series(TOTAL, context, at=start + offset)
    counting.asked.clear()
    batch.query_series(TOTAL, then[1], at=start + then[0])
    return list(counting.asked)


def contexts(policy: RenderedPolicy) -> list[dict[str, object]]:
    found: list[dict[str, object]] = []
    for workload in WORKLOADS:
        name, version = workload.rsplit("-", 1)
        found.append({**policy.params, **template_context(shop_rollout(name), version)})
    return found


@pytest.mark.usefixtures("scraped")
def test_each_workload_gets_the_numbers_of_its_own_query(provider: PrometheusProvider) -> None:
    at = time.time()
    batch = BatchedQueries(provider, interval=0.375)
    for policy in POLICIES:
        for field, template in policy.templates.items():
            for context in contexts(policy):  # the first pass: everyone joins the batch
                batch.query_series(template, context, at=at - 1)
            for context in contexts(policy):
                own = provider.query_series(policy.queries_for(context)[field], at=at)
                batched = batch.query_series(template, context, at=at)
                assert batched is not None, f"{policy.name}.{field} was not batched"
                assert values(batched) == pytest.approx(values(own), nan_ok=True), (
                    f"{policy.name}.{field} for {context['workload']}"
                )


SHOP = ("batch-a", "batch-b", "batch-c")
"""Three rollouts of v2 over v1: the passes of the tests below."""
TEMPLATES = sum(len(policy.templates) for policy in POLICIES)


def shop_pass(
    provider: MetricsProvider, at: float, batch: BatchedQueries | None = None
) -> dict[str, object]:
    """Each of ``SHOP``'s ticks at ``at``, one after the other."""
    return {
        name: observe(
            POLICIES,
            provider,
            canary=template_context(shop_rollout(name), "v2"),
            stable=template_context(shop_rollout(name), "v1"),
            at=at,
            batch=batch,
        )
        for name in SHOP
    }


@pytest.mark.usefixtures("scraped")
def test_a_pass_sends_one_query_per_template_however_many_rollouts(
    provider: PrometheusProvider,
) -> None:
    counting = Counting(provider)
    batch = BatchedQueries(counting, interval=3.75)
    # Both passes look at settled moments in the past: a query about the future would see
    # each new scrape land between the batched pass and the plain one.
    settled = time.time() - 1.5
    shop_pass(counting, settled - 6, batch)  # one after the other, each newcomer widens it
    assert len(counting.asked) <= 2 * TEMPLATES * len(SHOP)
    counting.asked.clear()
    second = shop_pass(counting, settled, batch)
    assert len(counting.asked) == TEMPLATES
    assert second == shop_pass(provider, settled)  # the same readings, each its own query


@pytest.mark.usefixtures("scraped")
def test_first_ticks_enrolled_ahead_are_asked_at_once_and_then_ask_nothing(
    provider: PrometheusProvider,
) -> None:
    counting = Counting(provider)
    batch = BatchedQueries(counting, interval=3.75)
    settled = time.time() - 1.5
    for name in SHOP:  # a push to three rollouts, seen by the sync
        enrol_first_tick(
            POLICIES,
            canary=template_context(shop_rollout(name), "v2"),
            stable=template_context(shop_rollout(name), "v1"),
            at=settled,
            batch=batch,
            look_back=None,
        )
    assert counting.asked == []  # enrolling asks nothing
    batch.ask_pending(at=settled)
    assert len(counting.asked) == TEMPLATES  # one query per template for all three
    batch.ask_pending(at=settled)
    assert len(counting.asked) == TEMPLATES  # and nobody is left to ask for
    counting.asked.clear()
    first_ticks = shop_pass(counting, settled + 1, batch)
    assert counting.asked == []  # their mirrors landed: the first ticks wait for nothing
    assert first_ticks == shop_pass(provider, settled)  # the answers asked ahead


@pytest.mark.usefixtures("scraped")
def test_a_burst_of_new_rollouts_shares_a_few_queries(provider: PrometheusProvider) -> None:
    class Slow(Counting):
        def query_series(
            self, promql: str, *, at: float | None = None, timeout: float = DEFAULT_QUERY_TIMEOUT
        ) -> tuple[Series, ...]:
            time.sleep(0.3)  # long enough for every newcomer to arrive meanwhile
            return super().query_series(promql, at=at, timeout=timeout)

    slow = Slow(provider)
    batch = BatchedQueries(slow, interval=22.5)
    policy = POLICIES[0]
    template = policy.templates["total"]
    at = time.time()
    names = [f"burst-{n}" for n in range(20)]
    start = threading.Barrier(len(names))
    answers: dict[str, tuple[Series, ...] | None] = {}

    def ask(name: str) -> None:
        context = {**policy.params, **template_context(shop_rollout(name), "v2")}
        start.wait()
        answers[name] = batch.query_series(template, context, at=at)

    threads = [threading.Thread(target=ask, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(answers) == len(names) and all(a == () for a in answers.values())
    assert len(slow.asked) <= 3


@pytest.mark.usefixtures("scraped")
def test_an_answer_late_in_its_life_is_renewed_while_it_still_serves(
    provider: PrometheusProvider,
) -> None:
    counting, batch = counted_batch(provider, interval=1.5, min_interval=0.0)
    policy, template = POLICIES[0], TOTAL
    context = contexts(policy)[0]
    at = time.time() - 5
    first = batch.query_series(template, context, at=at)
    assert batch.query_series(template, context, at=at + 0.5) == first
    assert len(counting.asked) == 1  # young enough: nothing asked
    assert batch.query_series(template, context, at=at + 1.6) == first  # served at once...
    deadline = time.monotonic() + 10
    while len(counting.asked) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(counting.asked) == 2  # ...while a new answer is asked in the background
    batch.query_series(template, context, at=at + 1.7)
    assert len(counting.asked) == 2, "one renewal at a time, and +1.7 is young for it"


@pytest.mark.usefixtures("scraped")
def test_a_new_answer_names_every_rollout_that_asked_however_its_ticks_are_spaced(
    provider: PrometheusProvider,
) -> None:
    counting, batch = counted_batch(provider, interval=1.5, min_interval=0.0)
    policy, template = POLICIES[0], TOTAL
    every_5s, every_10s = contexts(policy)[0], contexts(policy)[1]
    start = time.time() - 30
    ticks = [(0, every_5s), (1, every_10s), (5, every_5s), (10, every_5s), (11, every_10s)]
    asked = asked_after(batch, counting, ticks, (15, every_5s), start=start)
    # the other rollout ticked at +11 every 10 s, but workers that run behind start ticks
    # whenever they are free: it is named, not left to be asked for again as a newcomer
    assert len(asked) == 1
    assert str(every_5s["workload"]) in asked[0] and str(every_10s["workload"]) in asked[0]
    early = batch.query_series(template, every_10s, at=start + 16)
    assert len(counting.asked) == 1
    own = provider.query_series(policy.queries_for(every_10s)["total"], at=start + 15)
    assert early is not None and values(early) == pytest.approx(values(own))


@pytest.mark.usefixtures("scraped")
def test_a_rollout_that_stopped_asking_is_no_longer_named(provider: PrometheusProvider) -> None:
    counting, clock = Counting(provider), Clock(1000.0)
    batch = BatchedQueries(
        counting, interval=1.5, min_interval=0.0, forget_after=60.0, monotonic=clock
    )
    stays, leaves = contexts(POLICIES[0])[0], contexts(POLICIES[0])[1]
    start = time.time() - 30
    batch.join(TOTAL, stays)
    batch.join(TOTAL, leaves)
    batch.query_series(TOTAL, stays, at=start)
    batch.query_series(TOTAL, leaves, at=start)
    assert len(counting.asked) == 1  # both joined first: one query names both
    clock.now += 30
    batch.query_series(TOTAL, stays, at=start + 3)  # expired: a new answer names both
    assert len(counting.asked) == 2 and str(leaves["workload"]) in counting.asked[1]
    clock.now += 40  # the other has not asked for 70 s (its rollout finished)
    batch.query_series(TOTAL, stays, at=start + 6)
    assert len(counting.asked) == 3
    assert str(stays["workload"]) in counting.asked[2]
    assert str(leaves["workload"]) not in counting.asked[2]
    # back after all: a newcomer, asked for on its own at the answer's time
    back = batch.query_series(TOTAL, leaves, at=start + 6.5)
    assert len(counting.asked) == 4 and str(stays["workload"]) not in counting.asked[3]
    own = provider.query_series(POLICIES[0].queries_for(leaves)["total"], at=start + 6)
    assert back is not None and values(back) == pytest.approx(values(own))


@pytest.mark.usefixtures("scraped")
def test_a_tick_older_than_the_answers_life_is_served_by_the_one_before_or_on_its_own(
    provider: PrometheusProvider,
) -> None:
    counting, batch = counted_batch(provider, interval=1.5)
    policy, template = POLICIES[0], TOTAL
    context = contexts(policy)[0]
    at = time.time() - 10
    current = batch.query_series(template, context, at=at)
    assert current is not None and len(counting.asked) == 1
    # a worker that read its clock 5 s before and waited: not a new batch at its time,
    # which would take the answer back for every later tick
    assert batch.query_series(template, context, at=at - 5) is None
    assert len(counting.asked) == 1
    assert batch.query_series(template, context, at=at + 1) == current
    later = batch.query_series(template, context, at=at + 3)  # expired: a new answer
    assert len(counting.asked) == 2
    assert batch.query_series(template, context, at=at + 0.5) == current  # the one before
    assert batch.query_series(template, context, at=at + 3.5) == later
    assert len(counting.asked) == 2


def test_an_unreachable_prometheus_is_asked_once_per_pass() -> None:
    down = PrometheusProvider(PrometheusSettings(url="http://127.0.0.1:9"))
    counting = Counting(down)
    batch = BatchedQueries(counting, interval=3.75)
    policy = POLICIES[0]
    template = policy.templates["total"]
    at = time.time()
    for context in contexts(policy):
        # the first asks and fails; the others of the pass get that failure without a query
        with pytest.raises(MetricsError):
            batch.query_series(template, context, at=at + 1)
    assert len(counting.asked) == 1


@pytest.mark.usefixtures("scraped")
def test_a_batch_prometheus_refuses_falls_back_to_one_query_per_rollout(
    provider: PrometheusProvider,
) -> None:
    refused = 'sum by (pod) (rate(istio_requests_total{destination_workload="{{ workload }}"}[0s]))'
    batch = BatchedQueries(provider, interval=45.0)
    context = {"workload": "batch-a-v1"}
    with pytest.raises(errors.BadQuery):
        provider.query_series(refused.replace("{{ workload }}", "batch-a-v1"))
    assert batch.query_series(refused, context, at=time.time()) is None
    assert batch.query_series(refused, context, at=time.time()) is None
    assert batch.queries_sent == 1
