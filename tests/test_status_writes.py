"""When a tick writes the status: news at once, progress alone at a cadence, and what a
crash or another writer does to the progress not yet written.

Inputs: states that differ in one field each, and the coordinator over the in-memory ports
with an analyzer whose counters move every tick. Outputs: whether a difference is news, the
store's writes, and the analysis state each tick was decided from.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from rollout.analysis.verdicts import Outcome, Verdict
from rollout.ports import Desired
from rollout.reconcile import Ports, Reconciler
from rollout.state import Phase, RolloutState, VerdictRecord
from rollout.status_writes import PERSIST_EVERY, news
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
    writes = store.writes
    ticks = int(PERSIST_EVERY // 5)
    for _ in range(ticks - 1):
        tick(world)
    assert store.writes == writes, "nothing but progress: not written"
    tick(world)
    assert store.writes == writes + 1, f"written once the status is {PERSIST_EVERY:.0f}s old"
    seen = world["analyzer"].seen
    assert seen[-ticks:] == sorted(seen[-ticks:]) and len(set(seen[-ticks:])) == ticks
    assert RolloutState.from_status(store.status).analysis == {"ticks": seen[-1] + 1}


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
