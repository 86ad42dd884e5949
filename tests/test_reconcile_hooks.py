"""The coordinator with hooks: gates asked before a move, outcomes told after.

Inputs: a rollout of checkout with hooks, the coordinator over in-memory ports, the real
HTTP hook caller and a real local receiver (answering yes, no, or down). Outputs under
test: a ``confirm-step`` that says no holds the weight and one that says yes lets it
move; a ``pre-rollout`` no keeps all traffic on stable; a down receiver holds and alerts
once; a ``confirm-promotion`` no holds the promotion; ``post-promotion`` and ``rollback``
hooks are told with the versions and the evidence, and a down one is reported once.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from rollout.analysis.verdicts import Outcome, Verdict
from rollout.notify.factory import EnvSecretResolver
from rollout.notify.hooks import HttpHookCaller
from rollout.ports import Desired
from rollout.reconcile import Reconciled, Reconciler
from rollout.state import Phase
from rollout_local.receiver import WebhookReceiver
from tests.memory_ports import FAIL, memory_world
from tests.rollouts import make_rollout

PROMOTABLE = Verdict(Outcome.PASS, (), canary_requests=500, promotable=True, within_slo=True)


def hook(kind: str, name: str | None = None) -> dict[str, Any]:
    return {
        "name": name or kind,
        "type": kind,
        "url": {"env": "HOOK_URL"},
        "timeout": "1s",
        "retries": 0,
    }


@pytest.fixture
def caller(receiver: WebhookReceiver) -> Iterator[HttpHookCaller]:
    running = HttpHookCaller(resolver=EnvSecretResolver({"HOOK_URL": f"{receiver.url}/hook"}))
    yield running
    running.close()


@pytest.fixture
def down_caller() -> Iterator[HttpHookCaller]:
    with WebhookReceiver() as stopped:
        url = f"{stopped.url}/hook"
    running = HttpHookCaller(resolver=EnvSecretResolver({"HOOK_URL": url}))
    yield running
    running.close()


def ticks(reconciler: Reconciler, version: str, count: int, **spec: Any) -> Reconciled:
    outcome = None
    for _ in range(count):
        outcome = reconciler.reconcile(Desired(make_rollout(version, **spec), commit="c0ffee"))
    assert outcome is not None
    return outcome


def test_a_confirm_step_no_holds_the_weight_and_a_yes_lets_it_move(
    receiver: WebhookReceiver, caller: HttpHookCaller
) -> None:
    world = memory_world(caller)
    reconciler: Reconciler = world["reconciler"]
    gated = {"hooks": [hook("confirm-step")]}
    ticks(reconciler, "v1", 1, **gated)
    receiver.fail_next(2, status=403, body="QA has not signed off")
    held = ticks(reconciler, "v2", 2, **gated)
    assert held.state.phase is Phase.PROGRESSING
    assert held.state.canary_weight == 0
    assert "confirm-step hook said no" in held.state.message
    assert "QA has not signed off" in held.state.message
    assert world["ports"].router.split == {"v1": 100}  # no traffic went to v2
    moved = ticks(reconciler, "v2", 1, **gated)
    assert moved.state.canary_weight == 10
    asked = [r.json for r in receiver.received]
    assert [(a["hook"], a["weight"], a["nextWeight"]) for a in asked] == [
        ("confirm-step", 0, 10)
    ] * 3
    assert {(a["stableVersion"], a["canaryVersion"]) for a in asked} == {("v1", "v2")}
    assert not [n for n in world["ports"].alerts.sent if n.event.value == "hookFailed"]


def test_a_pre_rollout_no_keeps_all_traffic_on_stable(
    receiver: WebhookReceiver, caller: HttpHookCaller
) -> None:
    world = memory_world(caller)
    reconciler: Reconciler = world["reconciler"]
    gated = {"hooks": [hook("pre-rollout"), hook("confirm-step")]}
    ticks(reconciler, "v1", 1, **gated)
    receiver.fail_next(1, status=409)
    held = ticks(reconciler, "v2", 1, **gated)
    assert held.state.phase is Phase.WAITING
    assert "pre-rollout hook said no" in held.state.message
    started = ticks(reconciler, "v2", 1, **gated)
    assert started.state.canary_weight == 10
    assert [r.json["hook"] for r in receiver.received] == [
        "pre-rollout",
        "pre-rollout",
        "confirm-step",
    ]


def test_a_down_receiver_holds_and_alerts_once(down_caller: HttpHookCaller) -> None:
    world = memory_world(down_caller)
    reconciler: Reconciler = world["reconciler"]
    gated = {"hooks": [hook("confirm-step")]}
    ticks(reconciler, "v1", 1, **gated)
    held = ticks(reconciler, "v2", 4, **gated)
    assert held.state.canary_weight == 0
    assert "confirm-step hook said nothing" in held.state.message
    assert "connection failed" in held.state.message
    failed = [n for n in world["ports"].alerts.sent if n.event.value == "hookFailed"]
    assert len(failed) == 1
    assert "confirm-step" in failed[0].summary


def test_a_confirm_promotion_no_holds_the_promotion(
    receiver: WebhookReceiver, caller: HttpHookCaller
) -> None:
    world = memory_world(caller)
    world["ports"].analyzer.verdict = PROMOTABLE
    reconciler: Reconciler = world["reconciler"]
    gated = {"hooks": [hook("confirm-promotion")], "steps": [{"setWeight": 20}]}
    ticks(reconciler, "v1", 1, **gated)
    receiver.fail_next(1, status=403)
    held = ticks(reconciler, "v2", 1, **gated)  # 20%, the steps done, promotable: asks
    assert held.state.stable_version == "v1"
    assert held.state.canary_weight == 20
    assert "confirm-promotion hook said no" in held.state.message
    promoted = ticks(reconciler, "v2", 1, **gated)
    assert promoted.state.phase is Phase.SUCCEEDED
    assert promoted.state.stable_version == "v2"
    assert [r.json["nextWeight"] for r in receiver.received] == [100, 100]


def test_post_promotion_and_rollback_hooks_are_told(
    receiver: WebhookReceiver, caller: HttpHookCaller
) -> None:
    world = memory_world(caller)
    ports = world["ports"]
    ports.analyzer.verdict = PROMOTABLE
    reconciler: Reconciler = world["reconciler"]
    steps = [{"setWeight": 20}, {"analyze": {"duration": "20s"}}]
    told = {"hooks": [hook("post-promotion"), hook("rollback")], "steps": steps}
    ticks(reconciler, "v1", 1, **told)
    promoted = ticks(reconciler, "v2", 4, **told)
    assert promoted.state.stable_version == "v2"
    assert ticks(reconciler, "v3", 1, **told).state.canary_weight == 20
    ports.analyzer.verdict = FAIL
    rolled_back = ticks(reconciler, "v3", 1, **told)
    assert rolled_back.state.phase is Phase.ROLLED_BACK
    bodies = [r.json for r in receiver.received]
    assert [(b["hook"], b["stableVersion"], b["canaryVersion"]) for b in bodies] == [
        ("post-promotion", "v1", "v2"),
        ("rollback", "v2", "v3"),
    ]
    assert bodies[1]["weight"] == 20
    assert bodies[1]["evidence"][0]["policy"] == "istio-error-ratio"
    assert rolled_back.state.stable_version == "v2"


def test_a_down_post_promotion_hook_is_reported_once(down_caller: HttpHookCaller) -> None:
    world = memory_world(down_caller)
    ports = world["ports"]
    ports.analyzer.verdict = PROMOTABLE
    reconciler: Reconciler = world["reconciler"]
    told = {"hooks": [hook("post-promotion", "deploy-log")], "steps": [{"setWeight": 20}]}
    ticks(reconciler, "v1", 1, **told)
    promoted = ticks(reconciler, "v2", 4, **told)
    assert promoted.state.stable_version == "v2"
    assert ports.events.recorded.count("HookFailed") == 1
    failed = [n for n in ports.alerts.sent if n.event.value == "hookFailed"]
    assert len(failed) == 1
    assert "deploy-log" in failed[0].summary
