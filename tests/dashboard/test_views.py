"""What the dashboard's pages are built from, with no server: rows, steps, timeline, chart.

Inputs: :class:`~rollout.ports.Stored` Rollouts made in the test (states a controller
leaves). Outputs: the rows a search and a namespace keep, which step is current, the
pending command, the chart point's numbers, and a spec with its secrets redacted.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from rollout.dashboard import views
from rollout.events import Notification
from rollout.notify.dispatch import alert_key
from rollout.ports import Stored
from rollout.spec.alerts import AlertEvent
from rollout.state import Command, Phase, RolloutState, VerdictRecord
from tests.notify.samples import make_notification

STEPS = [{"setWeight": 20}, {"analyze": {"duration": "30s"}}, {"pause": {}}]


def stored(namespace: str, name: str, state: RolloutState, **fields: Any) -> Stored:
    spec = {"version": state.canary_version or state.stable_version or "v1", "steps": STEPS}
    return Stored(
        namespace=namespace, name=name, state=state, resource_version="1", spec=spec, **fields
    )


def test_rows_filter_by_namespace_and_search() -> None:
    items = [
        stored("shop", "checkout", RolloutState(stable_version="v1", canary_version="v2")),
        stored("ops", "api", RolloutState(stable_version="v7")),
    ]
    assert [r.key for r in views.rows(items)] == ["ops/api", "shop/checkout"]
    assert [r.key for r in views.rows(items, namespace="ops")] == ["ops/api"]
    assert [r.key for r in views.rows(items, search="V2")] == ["shop/checkout"]
    assert views.rows(items, search="nothing") == []


def test_steps_show_where_a_progressing_rollout_stands() -> None:
    state = RolloutState(phase=Phase.PAUSED, stable_version="v1", canary_version="v2", step_index=2)
    steps = views.detail(stored("shop", "checkout", state), ()).steps
    assert [(s.text, s.status) for s in steps] == [
        ("setWeight 20", "done"),
        ("analyze (duration 30s)", "done"),
        ("pause", "current"),
    ]


def test_a_command_the_controller_recorded_is_no_longer_pending() -> None:
    command = Command(id="a1", action="promote", by="alice", at=10.0)
    waiting = stored("shop", "checkout", RolloutState(), command=command)
    assert views.pending_command(waiting) == command
    assert "promote (pending)" in [t.text for t in views.detail(waiting, ()).timeline]
    done = stored(
        "shop",
        "checkout",
        RolloutState(commands=[command.model_copy(update={"result": "promoted"})]),
        command=command,
    )
    assert views.pending_command(done) is None


def test_the_chart_point_carries_rates_threshold_and_evidence() -> None:
    verdict = VerdictRecord(
        outcome="inconclusive",
        reason="",
        at=5.0,
        evidence=[
            {
                "policy": "errors",
                "check": "errors",
                "value": 0.02,
                "stable_value": 0.01,
                "threshold": 0.01,
                "statistic": 1.5,
            },
            {"policy": "p99", "check": "value-max", "value": float("nan"), "threshold": 300},
        ],
    )
    state = RolloutState(phase=Phase.PROGRESSING, canary_weight=20, last_verdict=verdict)
    point = views.chart_point(stored("shop", "checkout", state), at=100.0)
    assert point.weight == 20
    assert point.policies["errors errors"] == {
        "canary": 0.02,
        "stable": 0.01,
        "threshold": 0.01,
        "evidence": 1.5,
    }
    assert point.policies["p99 value-max"]["canary"] is None  # NaN is not a number to plot


def test_secrets_in_a_spec_are_redacted_and_the_rest_kept() -> None:
    spec = {
        "alerts": [
            {
                "url": {"value": "https://hooks.example/T0/SECRET"},
                "allowInlineUrl": True,
                "signingKey": {"secretRef": {"name": "keys", "key": "hmac"}},
                "headers": {"Authorization": "Bearer abc"},
            }
        ],
        "version": "v2",
    }
    shown = views.redacted(spec)
    alert = shown["alerts"][0]
    assert alert["url"] == {"value": views.REDACTED}
    assert alert["allowInlineUrl"] is True
    assert alert["signingKey"] == {"secretRef": {"name": "keys", "key": "hmac"}}
    assert alert["headers"] == {"Authorization": views.REDACTED}
    assert shown["version"] == "v2"


def test_alerts_sent_read_as_event_version_and_spec() -> None:
    def sent(event: AlertEvent, step: int | None) -> Notification:
        notification = make_notification(event=event, revision="v2@02fb888195f1")
        return dataclasses.replace(notification, step=step)

    keys = [
        sent(AlertEvent.PROMOTED, None).dedupe_key,
        alert_key("slack", sent(AlertEvent.STEP_ADVANCED, 3)),
        "a key of some other shape",
    ]
    texts = [
        t.text
        for t in views.detail(
            stored("shop", "checkout", RolloutState(alerts_sent=keys)), ()
        ).timeline
    ]
    assert "alert sent: promoted, v2 (spec 02fb8881)" in texts
    assert "alert sent to slack: stepAdvanced, v2, step 3 (spec 02fb8881)" in texts
    assert "alert sent: a key of some other shape" in texts
