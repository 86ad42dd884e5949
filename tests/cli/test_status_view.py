"""``rollout status`` rendering: resource in, lines with phase, bar and evidence out."""

from __future__ import annotations

from rollout.cli.status_view import RolloutView, detail_lines, evidence_line, weight_bar
from rollout.state import Command, Phase, RolloutState, VerdictRecord


def test_weight_bar_shows_the_canary_share() -> None:
    assert weight_bar(0, width=10) == "[░░░░░░░░░░]   0%"
    assert weight_bar(25, width=4) == "[█░░░]  25%"
    assert weight_bar(100, width=4) == "[████] 100%"


def test_detail_lines_carry_the_evidence_of_the_last_verdict() -> None:
    state = RolloutState(
        phase=Phase.ROLLED_BACK,
        message="rolled back: istio-error-ratio: canary errors 5.0% vs stable 0.1%",
        stable_version="v1",
        last_verdict=VerdictRecord(
            outcome="fail",
            reason="istio-error-ratio: canary errors 5.0% vs stable 0.1%",
            at=0.0,
            canary_requests=42,
            evidence=[
                {
                    "policy": "istio-error-ratio",
                    "check": "canary-vs-stable",
                    "outcome": "fail",
                    "message": "canary errors 5.0% vs stable 0.1%",
                    "value": 0.05,
                    "threshold": 0.01,
                    "sample_size": 42,
                    "p_value": 0.0004,
                }
            ],
        ),
        commands=[Command(id="1", action="abort", by="erin", at=0.0, result="aborted")],
    )
    body = {
        "metadata": {"name": "checkout", "namespace": "shop"},
        "spec": {"version": "v3"},
        "status": state.to_status(),
    }
    lines = detail_lines(RolloutView.from_resource(body))
    text = "\n".join(lines)
    assert lines[0].startswith("shop/checkout")
    assert "RolledBack" in lines[0] and "stable v1" in lines[0]
    assert "value=0.05, threshold=0.01" in text
    assert "n=42" in text and "p=0.0004" in text
    assert "command abort by erin" in text


def test_evidence_line_for_an_inconclusive_check() -> None:
    line = evidence_line(
        {
            "policy": "istio-latency-p99",
            "check": "quantile",
            "outcome": "inconclusive",
            "message": "no data",
        }
    )
    assert line == "? istio-latency-p99 quantile: no data"


def test_an_inconclusive_check_labels_its_numbers_as_counts_so_far() -> None:
    line = evidence_line(
        {
            "policy": "istio-slow-request-ratio",
            "check": "slow-requests",
            "outcome": "inconclusive",
            "message": "canary total: Prometheus at http://prom:9090 is unreachable: "
            "Connection refused",
            "value": 0.0,
            "sample_size": 120,
            "p_value": 1.0,
        }
    )
    assert line.endswith("Connection refused (so far: value=0, n=120, p=1)")


def test_a_rollout_without_status_is_waiting_for_a_controller() -> None:
    body = {"metadata": {"name": "checkout", "namespace": "shop"}, "spec": {"version": "v2"}}
    lines = detail_lines(RolloutView.from_resource(body))
    assert "Pending" in lines[0] and "Succeeded" not in lines[0]
    assert lines[1:] == [
        "    waiting for a controller: no status has been recorded yet; desired version v2"
    ]


def test_commands_of_earlier_rollouts_are_not_shown() -> None:
    state = RolloutState(
        phase=Phase.SUCCEEDED,
        stable_version="v3",
        rollout_started_at=1000.0,
        commands=[
            Command(id="1", action="abort", by="erin", at=500.0, result="aborted"),
            Command(id="2", action="promote", by="alice", at=1200.0, result="promoted fully"),
        ],
    )
    body = {
        "metadata": {"name": "checkout", "namespace": "shop"},
        "spec": {"version": "v3"},
        "status": state.to_status(),
    }
    text = "\n".join(detail_lines(RolloutView.from_resource(body)))
    assert "command promote by alice" in text
    assert "abort" not in text
