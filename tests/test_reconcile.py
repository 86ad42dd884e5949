"""The coordinator: the order of effects, conflicts, drift, idempotence and the alert outbox.

The same inconclusive verdict tick after tick is logged once.
The adapters here are small in-memory stand-ins at the Protocols the coordinator declares;
the real adapters are tested against the local API server, Prometheus and real receivers
in their own folders, and together end to end.
"""

from __future__ import annotations

from typing import Any

import pytest

from rollout import route_record
from rollout.analysis.verdicts import Evidence, Outcome, Verdict
from rollout.effects import SetWeights
from rollout.errors import ClusterError, Conflict
from rollout.ports import Desired
from rollout.reconcile import Ports, Reconciler
from rollout.route_record import RouteRecord
from rollout.state import Phase, RolloutState
from tests.memory_ports import (
    FAIL,
    Alerts,
    MemoryRouter,
    MemoryStore,
    ScriptedAnalyzer,
    memory_world,
)
from tests.rollouts import make_rollout


@pytest.fixture
def world() -> dict[str, Any]:
    return memory_world()


def desired(version: str) -> Desired:
    return Desired(make_rollout(version), commit="c0ffee", author="alice")


def test_effects_apply_in_order_weights_then_state_then_alerts(world: dict[str, Any]) -> None:
    reconciler: Reconciler = world["reconciler"]
    reconciler.reconcile(desired("v1"))
    world["log"].clear()
    outcome = reconciler.reconcile(desired("v2"))
    assert outcome.state.phase is Phase.PROGRESSING
    assert world["log"] == [
        "weights v2=10",
        "state",
        "alert started",
        "alert stepAdvanced",
    ]
    # one status write, which already records the alerts as sent
    assert RolloutState.from_status(world["ports"].store.status).outbox == []
    assert len(outcome.state.alerts_sent) == 2


def test_a_failed_verdict_rolls_back_and_alerts_with_evidence(world: dict[str, Any]) -> None:
    reconciler: Reconciler = world["reconciler"]
    reconciler.reconcile(desired("v1"))
    reconciler.reconcile(desired("v2"))
    world["ports"].analyzer.verdict = FAIL
    outcome = reconciler.reconcile(desired("v2"))
    assert outcome.state.phase is Phase.ROLLED_BACK
    assert world["ports"].router.weights == SetWeights("v1", None, 0)
    last = world["ports"].alerts.sent[-1]
    assert last.event.value == "rolledBack"
    assert last.evidence[0].value == 0.05
    assert "AnalysisFailed" in world["ports"].events.recorded


def test_running_the_same_tick_twice_changes_nothing(world: dict[str, Any]) -> None:
    reconciler: Reconciler = world["reconciler"]
    ports: Ports = world["ports"]
    ports.clock = lambda: 5000.0
    reconciler.reconcile(desired("v1"))
    reconciler.reconcile(desired("v2"))  # starts, and sets the first weight
    reconciler.reconcile(desired("v2"))  # the first verdict at that weight
    writes = ports.store.writes  # type: ignore[attr-defined]
    world["log"].clear()
    reconciler.reconcile(desired("v2"))
    assert world["log"] == []
    assert ports.store.writes == writes  # type: ignore[attr-defined]


def test_a_conflict_rereads_and_decides_again(world: dict[str, Any]) -> None:
    reconciler: Reconciler = world["reconciler"]
    reconciler.reconcile(desired("v1"))
    world["ports"].store.conflicts_to_raise = 2
    outcome = reconciler.reconcile(desired("v2"))
    assert outcome.conflicts == 2
    assert outcome.state.phase is Phase.PROGRESSING
    assert RolloutState.from_status(world["ports"].store.status).canary_weight == 10
    # the ticks that lost the write queued nothing: each alert leaves once
    alerts: Alerts = world["ports"].alerts
    assert [n.event.value for n in alerts.sent] == ["started", "stepAdvanced"]


def test_a_failed_traffic_write_saves_no_state(world: dict[str, Any]) -> None:
    reconciler: Reconciler = world["reconciler"]
    reconciler.reconcile(desired("v1"))
    before = dict(world["ports"].store.status)
    world["ports"].router.fail_next = True
    with pytest.raises(ClusterError):
        reconciler.reconcile(desired("v2"))
    assert world["ports"].store.status == before
    outcome = reconciler.reconcile(desired("v2"))
    assert outcome.state.canary_weight == 10


def test_drift_is_reported_and_corrected(world: dict[str, Any]) -> None:
    reconciler: Reconciler = world["reconciler"]
    reconciler.reconcile(desired("v1"))
    reconciler.reconcile(desired("v2"))
    world["ports"].router.edit(SetWeights("v1", "v2", 70))
    outcome = reconciler.reconcile(desired("v2"))
    assert outcome.drift is not None and "70%" in outcome.drift
    assert world["ports"].router.weights.canary_weight == 10
    condition = outcome.state.condition("TrafficRouted")
    assert condition is not None and condition.reason == "Drift"
    assert "WeightDrift" in world["ports"].events.recorded


def test_broken_traffic_config_moves_no_traffic(world: dict[str, Any]) -> None:
    reconciler: Reconciler = world["reconciler"]
    reconciler.reconcile(desired("v1"))
    world["ports"].router.problems = ["virtualservices checkout not found"]
    outcome = reconciler.reconcile(desired("v2"))
    assert outcome.state.phase is Phase.WAITING
    assert world["ports"].router.weights == SetWeights("v1", None, 0)


def test_alerts_owed_in_a_saved_outbox_are_sent_and_recorded(world: dict[str, Any]) -> None:
    reconciler: Reconciler = world["reconciler"]
    reconciler.reconcile(desired("v1"))
    reconciler.reconcile(desired("v2"))
    store: MemoryStore = world["ports"].store
    alerts: Alerts = world["ports"].alerts
    delivered = [n.event.value for n in alerts.sent]
    assert delivered == ["started", "stepAdvanced"]
    assert RolloutState.from_status(store.status).outbox == []
    # a status that still owes alerts (written by a controller that saved the outbox and
    # delivered after): the next tick sends them and records them as sent
    state = RolloutState.from_status(store.status)
    owed = state.model_copy(update={"outbox": outbox_of_a_fresh_start(), "alerts_sent": []})
    store.status = owed.to_status()
    store.version += 1  # written by another process: a new resourceVersion
    alerts.sent.clear()
    reconciler.reconcile(desired("v2"))
    assert [n.event.value for n in alerts.sent] == ["started", "stepAdvanced"]
    assert RolloutState.from_status(store.status).outbox == []


def outbox_of_a_fresh_start() -> list[Any]:
    """The alerts a fresh rollout of v2 owes, computed by deciding its first tick again."""
    from rollout.adoption import LiveRoutes
    from rollout.decide import Observations, decide

    live = LiveRoutes(({"v1": 100},))
    first = decide(make_rollout("v1"), RolloutState(), Observations(now=1.0, live=live))
    started = decide(
        make_rollout("v2"), first.state, Observations(now=2.0, spec_hash="h", canary_ready=True)
    )
    return list(started.state.outbox)


def test_the_tick_that_first_sends_traffic_takes_the_baseline(world: dict[str, Any]) -> None:
    reconciler: Reconciler = world["reconciler"]
    analyzer: ScriptedAnalyzer = world["ports"].analyzer
    reconciler.reconcile(desired("v1"))
    assert analyzer.calls == []  # nothing to judge while only stable runs
    outcome = reconciler.reconcile(desired("v2"))
    assert analyzer.calls == [("v2", {}, 0)]  # judged before the weight moved, fresh state
    assert outcome.state.analysis == {"for": "v2"}
    reconciler.reconcile(desired("v3"))  # superseded mid-rollout: a fresh state again
    assert analyzer.calls[-1] == ("v3", {}, 10)
    assert RolloutState.from_status(world["ports"].store.status).analysis == {"for": "v3"}


def test_only_a_spec_that_starts_a_canary_has_its_first_analysis_asked_ahead(
    world: dict[str, Any],
) -> None:
    reconciler: Reconciler = world["reconciler"]
    analyzer: ScriptedAnalyzer = world["ports"].analyzer
    store: MemoryStore = world["ports"].store

    def prepared(version: str) -> list[list[str]]:
        analyzer.prepared.clear()
        reconciler.prepare([(desired(version), store.load("shop", "checkout"))])
        return list(analyzer.prepared)

    assert prepared("v1") == []  # no stable version yet: adoption judges nothing
    reconciler.reconcile(desired("v1"))
    assert prepared("v1") == []  # the stable version itself
    assert prepared("v2") == [["shop/checkout"]]
    reconciler.reconcile(desired("v2"))
    assert prepared("v2") == []  # already the canary
    assert prepared("v3") == [["shop/checkout"]]  # superseding it starts a new one
    world["ports"].analyzer.verdict = FAIL
    reconciler.reconcile(desired("v2"))
    assert prepared("v2") == []  # the revision that failed does not start again


def test_after_a_crash_the_redecided_weight_is_not_taken_for_drift(world: dict[str, Any]) -> None:
    """Traffic moved to 50% but the state saying so was never saved: no step back to 10%."""
    reconciler: Reconciler = world["reconciler"]
    ports: Ports = world["ports"]
    reconciler.reconcile(desired("v1"))
    reconciler.reconcile(desired("v2"))
    reconciler.reconcile(desired("v2"))
    before_crash = dict(ports.store.status)  # type: ignore[attr-defined]
    state = RolloutState.from_status(before_crash)
    assert (state.step_index, state.canary_weight) == (1, 10)
    ports.router.edit(SetWeights("v1", "v2", 50))  # type: ignore[attr-defined]
    later = iter(range(2000, 3000, 5))
    ports.clock = lambda: float(next(later))  # the 30 s analysis step has run its course
    world["log"].clear()
    outcome = reconciler.reconcile(desired("v2"))
    assert outcome.drift is None
    assert outcome.state.canary_weight == 50
    assert not any(entry.startswith("weights v2=10") for entry in world["log"])


def live_record(world: dict[str, Any]) -> RouteRecord:
    found = route_record.decode(world["ports"].router.record, "shop/checkout")
    assert found is not None
    return found


def test_the_record_moves_with_the_weights_and_a_lost_status_resumes_from_it(
    world: dict[str, Any],
) -> None:
    reconciler: Reconciler = world["reconciler"]
    store: MemoryStore = world["ports"].store
    router: MemoryRouter = world["ports"].router
    reconciler.reconcile(desired("v1"))
    reconciler.reconcile(desired("v2"))
    record = live_record(world)
    assert (record.stable, record.canary, record.weight, record.step) == ("v1", "v2", 10, 1)

    store.status = {}  # the Rollout recreated, or its status lost
    store.version += 1
    outcome = reconciler.reconcile(desired("v2"))
    assert (outcome.state.phase, outcome.state.stable_version) == (Phase.PROGRESSING, "v1")
    assert (outcome.state.canary_version, outcome.state.canary_weight) == ("v2", 10)
    assert outcome.state.step_index == 1 and outcome.state.analysis == {}
    assert router.split == {"v1": 90, "v2": 10}
    assert "Adopted" in world["ports"].events.recorded


def test_a_settled_failure_reaches_the_record_though_no_weight_moves(
    world: dict[str, Any],
) -> None:
    reconciler: Reconciler = world["reconciler"]
    reconciler.reconcile(desired("v1"))
    reconciler.reconcile(desired("v2"))
    world["ports"].analyzer.verdict = FAIL
    reconciler.reconcile(desired("v2"))
    failed = live_record(world).failed
    assert failed is not None and failed.version == "v2"

    reconciler.reconcile(desired("v1"))  # the spec goes back to the stable version
    assert live_record(world).failed is None
    assert world["ports"].router.split == {"v1": 100}


def test_an_invalid_spec_is_reported_once_through_the_conflict_loop(
    world: dict[str, Any],
) -> None:
    reconciler: Reconciler = world["reconciler"]
    store: MemoryStore = world["ports"].store
    store.conflicts_to_raise = 2
    problem = "spec.steps: field required"

    reconciler.report_invalid_spec(store.load("shop", "checkout"), problem)

    condition = RolloutState.from_status(store.status).condition("SpecValid")
    assert condition is not None and condition.status == "False"
    assert condition.message == problem and store.writes == 1
    assert world["ports"].events.recorded == ["SpecInvalid"]
    reconciler.report_invalid_spec(store.load("shop", "checkout"), problem)
    assert store.writes == 1 and world["ports"].events.recorded == ["SpecInvalid"]


def test_an_invalid_spec_report_gives_up_after_repeated_conflicts(
    world: dict[str, Any],
) -> None:
    store: MemoryStore = world["ports"].store
    store.conflicts_to_raise = 10
    with pytest.raises(Conflict):
        world["reconciler"].report_invalid_spec(store.load("shop", "checkout"), "bad")
    assert store.writes == 0 and world["ports"].events.recorded == []


def test_the_same_inconclusive_verdict_is_logged_once_not_every_tick(
    world: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    reconciler: Reconciler = world["reconciler"]
    reconciler.reconcile(desired("v1"))
    reconciler.reconcile(desired("v2"))
    world["ports"].analyzer.verdict = Verdict(
        Outcome.INCONCLUSIVE,
        (Evidence("istio-error-ratio", "errors", Outcome.INCONCLUSIVE, "no canary requests"),),
    )
    with caplog.at_level("INFO", logger="rollout.reconcile"):
        for _ in range(4):
            reconciler.reconcile(desired("v2"))
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("verdict ")]
    assert lines == ["verdict inconclusive: istio-error-ratio: no canary requests"]
