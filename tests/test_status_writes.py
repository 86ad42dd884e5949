"""When a tick writes the status: news at once, progress alone at a cadence, and what a
crash or another writer does to the progress not yet written.

Inputs: states that differ in one field each, and the coordinator over the in-memory ports
with an analyzer whose counters move every tick. Outputs: whether a difference is news, the
store's writes, and the analysis state each tick was decided from.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import pytest

from rollout.analysis.verdicts import Outcome, Verdict
from rollout.ports import Desired
from rollout.reconcile import Ports, Reconciler
from rollout.state import Phase, RolloutState, VerdictRecord
from rollout.status_writes import PERSIST_EVERY, UnsavedStates, news
from tests.memory_ports import MemoryStore, memory_world
from tests.rollouts import make_rollout

ANALYSING = RolloutState(
    phase=Phase.PROGRESSING,
    message="step 1: analysing at 10% (5s of 300s)",
    stable_version="v1",
    canary_version="v2",
    step_index=1,
    canary_weight=10,
    analysis={"canary": {"total": 40.0}},
    last_verdict=VerdictRecord(
        outcome="pass", reason="within SLOs after 40 requests", at=1005.0, canary_requests=40
    ),
)


@pytest.mark.parametrize(
    "changes",
    [
        {"analysis": {"canary": {"total": 90.0}}},
        {"message": "step 1: analysing at 10% (10s of 300s)"},
        {
            "last_verdict": VerdictRecord(
                outcome="pass",
                reason="within SLOs after 90 requests",
                at=1010.0,
                canary_requests=90,
                evidence=[{"policy": "istio-error-ratio", "value": 0.0}],
            )
        },
    ],
)
def test_a_ticks_progress_is_not_news(changes: dict[str, Any]) -> None:
    assert not news(ANALYSING, ANALYSING.model_copy(update=changes))


@pytest.mark.parametrize(
    "changes",
    [
        {"phase": Phase.PAUSED},
        {"canary_weight": 20},
        {"step_index": 2},
        {"message": "holding at step 1: analysis inconclusive"},
        {"inconclusive_streak": 1},
        {
            "last_verdict": VerdictRecord(
                outcome="inconclusive", reason="no canary requests yet", at=1010.0
            )
        },
        {
            "last_verdict": VerdictRecord(
                outcome="pass", reason="within SLOs after 90 requests", at=1010.0, promotable=True
            )
        },
    ],
)
def test_what_a_person_or_the_next_decision_needs_is_news(changes: dict[str, Any]) -> None:
    assert news(ANALYSING, ANALYSING.model_copy(update=changes))


class CountingAnalyzer:
    """The ``Analyzer`` port: passes, with counters that grow by one every tick; records
    the counters each tick started from."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    def analyze(
        self, desired: Desired, state: RolloutState, now: float
    ) -> tuple[Verdict | None, dict[str, Any] | None]:
        ticks = int(state.analysis.get("ticks", 0))
        self.seen.append(ticks)
        verdict = Verdict(Outcome.PASS, (), canary_requests=10.0 * ticks, within_slo=True)
        return verdict, {"ticks": ticks + 1}

    def prepare(self, starting: Sequence[tuple[Desired, RolloutState]], now: float) -> None:
        return None  # nothing to ask ahead


@pytest.fixture
def world() -> dict[str, Any]:
    found = memory_world()
    ports: Ports = found["ports"]
    found["analyzer"] = ports.analyzer = CountingAnalyzer()
    found["now"] = [1000.0]
    ports.clock = lambda: found["now"][0]
    return found


LONG_ANALYSIS = [{"setWeight": 10}, {"analyze": {"duration": "600s"}}, {"setWeight": 50}]


def tick(world: dict[str, Any], version: str = "v2", reconciler: Reconciler | None = None) -> None:
    world["now"][0] += 5.0
    rollout = make_rollout(version, steps=LONG_ANALYSIS)
    (reconciler or world["reconciler"]).reconcile(Desired(rollout, commit="c0ffee"))


def analysing(world: dict[str, Any]) -> MemoryStore:
    """v1 stable, then v2 at its first weight, analysing: the status is written."""
    tick(world, "v1")
    tick(world)
    store: MemoryStore = world["ports"].store
    assert RolloutState.from_status(store.status).canary_weight == 10
    return store


def test_progress_alone_is_written_once_per_cadence_and_each_tick_builds_on_the_last(
    world: dict[str, Any],
) -> None:
    store = analysing(world)
    news_written_at = world["now"][0]
    ticks = int(PERSIST_EVERY // 5)
    written_at: list[float] = []
    seen = world["analyzer"].seen
    for _ in range(3 * ticks):
        writes = store.writes
        tick(world)
        if store.writes > writes:
            written_at.append(world["now"][0])
            written = RolloutState.from_status(store.status).analysis
            assert written == {"ticks": seen[-1] + 1}, "the newest state is what is written"
    assert len(written_at) == 3, "progress alone: once per period"
    assert 0 < written_at[0] - news_written_at <= PERSIST_EVERY + 5
    assert [later - earlier for earlier, later in pairwise(written_at)] == [PERSIST_EVERY] * 2
    assert seen == sorted(seen) and len(set(seen)) == len(seen), "each tick builds on the last"


def test_progress_is_next_due_within_one_period_of_the_last_write() -> None:
    unsaved = UnsavedStates()
    for key in ("shop/cart", "shop/checkout", "payments/api"):
        for written_at in (1000.0, 1000.5, 1029.9, 123456.7):
            due = unsaved.progress_due(key, written_at)
            assert written_at < due <= written_at + PERSIST_EVERY
            assert unsaved.progress_due(key, due - 0.01) == due, "one period: one write"
            assert unsaved.progress_due(key, due) == due + PERSIST_EVERY


def test_rollouts_written_together_write_their_progress_spread_over_the_period() -> None:
    # a push starts a thousand rollouts within seconds: counted from each write, their
    # progress writes would all come PERSIST_EVERY later, in the same few seconds
    unsaved = UnsavedStates()
    offsets = sorted(
        unsaved.progress_due(f"shop/service-{number}", 1000.0) - 1000.0 for number in range(1000)
    )
    assert 0 < offsets[0] < 1.0 and PERSIST_EVERY - 1.0 < offsets[-1] <= PERSIST_EVERY
    per_second = [bisect.bisect(offsets, s + 1.0) - bisect.bisect(offsets, s) for s in range(30)]
    assert max(per_second) <= 2 * 1000 / PERSIST_EVERY, per_second


def test_a_restart_decides_from_the_status_written_last(world: dict[str, Any]) -> None:
    store = analysing(world)
    for _ in range(3):
        tick(world)
    persisted = RolloutState.from_status(store.status).analysis["ticks"]
    assert world["analyzer"].seen[-1] > persisted, "the last ticks' progress is unwritten"
    restarted = Reconciler(world["ports"])
    tick(world, reconciler=restarted)
    assert world["analyzer"].seen[-1] == persisted, "judged from the counters written last"
    state = RolloutState.from_status(store.status)
    assert (state.phase, state.canary_weight) == (Phase.PROGRESSING, 10)


def test_another_write_to_the_rollout_drops_the_unwritten_progress(world: dict[str, Any]) -> None:
    store = analysing(world)
    for _ in range(3):
        tick(world)
    persisted = RolloutState.from_status(store.status).analysis["ticks"]
    store.version += 1  # a person's command, a new spec: the object is not the one decided from
    tick(world)
    assert world["analyzer"].seen[-1] == persisted


def test_news_is_written_at_once(world: dict[str, Any]) -> None:
    store = analysing(world)
    tick(world)
    writes = store.writes
    tick(world, "v3")  # a new version: the rollout starts again
    assert store.writes > writes
    assert RolloutState.from_status(store.status).canary_version == "v3"
