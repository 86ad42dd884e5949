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
