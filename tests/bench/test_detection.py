"""The detection benchmark on a few seeds: the JSON shape, and that it drives the real code.

Inputs are two scenarios and three seeds; outputs are the report's keys and values, and the
proof that ``ours`` ran the project's own ``judge`` and ``decide`` (its state is the
decision core's ``RolloutState`` with the analysis' stored statistics).
"""

from __future__ import annotations

import json
from pathlib import Path

from bench import controllers, detection
from rollout import decide
from rollout.analysis import judge
from rollout.state import Phase, RolloutState

RESULT_KEYS = {
    "scenario",
    "policy",
    "canary_requests_mean",
    "canary_requests_p95",
    "decision_sample_mean",
    "canary_errors_mean",
    "canary_errors_p95",
    "seconds_to_rollback_mean",
    "bad_promotion_rate",
    "false_rollback_rate",
    "seconds_to_promote_mean",
    "max_canary_weight_mean",
}
POLICIES = ("ours", "flagger", "flagger-matched", "argo")


def test_json_shape_and_figures(tmp_path: Path) -> None:
    out = tmp_path / "detection.json"
    assert (
        detection.main(
            ["--seeds", "3", "--json", str(out), "--scenarios", "bad-5pct,healthy-0.1pct"]
        )
        == 0
    )
    report = json.loads(out.read_text())
    assert set(report) >= {"results", "floors", "floors_mc"}
    assert 25 < report["floors"]["bad-5pct"] < 32
    # the simulated SPRT pays the overshoot that Wald's formula leaves out
    assert report["floors"]["bad-5pct"] < report["floors_mc"]["bad-5pct"] < 50
    assert report["floors"]["healthy-0.1pct"] is None
    assert report["floors_mc"]["healthy-0.1pct"] is None
    rows = {(r["scenario"], r["policy"]): r for r in report["results"]}
    assert set(rows) == {(s, p) for s in ("bad-5pct", "healthy-0.1pct") for p in POLICIES}
    for row in rows.values():
        assert set(row) >= RESULT_KEYS
    ours, flagger = rows["bad-5pct", "ours"], rows["bad-5pct", "flagger"]
    assert ours["bad_promotion_rate"] == 0.0
    assert ours["canary_errors_mean"] < flagger["canary_errors_mean"] / 10
    assert ours["false_rollback_rate"] is None
    healthy = rows["healthy-0.1pct", "ours"]
    assert healthy["false_rollback_rate"] == 0.0
    assert healthy["bad_promotion_rate"] is None
    assert healthy["seconds_to_promote_mean"] is not None
    assert healthy["max_canary_weight_mean"] == 50.0


def test_ours_is_the_real_decision_code() -> None:
    assert controllers.judge is judge.judge
    assert controllers.decide is decide.decide
    scenario = next(s for s in detection.SCENARIOS if s.name == "bad-5pct")
    ours = controllers.Ours()
    run = detection.simulate(scenario, ours, seed=1)
    assert run.result == controllers.ROLLED_BACK
    assert isinstance(ours.state, RolloutState)
    assert ours.state.phase is Phase.ROLLED_BACK
    assert ours.state.last_verdict is not None
    assert ours.state.last_verdict.outcome == "fail"
    assert "istio-error-ratio" in ours.state.analysis["policies"]
    assert run.decision_sample == ours.state.last_verdict.canary_requests


def test_a_floor_depends_on_its_rates_alone() -> None:
    by_name = {s.name: s for s in detection.SCENARIOS}
    alone = detection.run_all([by_name["bad-1pct"]], 1, jobs=1, policies=["ours"])
    after = detection.run_all(
        [by_name["bad-5pct"], by_name["bad-5pct-bursty"], by_name["bad-1pct"]],
        1,
        jobs=1,
        policies=["ours"],
    )
    assert alone["floors_mc"]["bad-1pct"] == after["floors_mc"]["bad-1pct"]
    # the same rates (the bursty world's noise is not in the SPRT's model): the same floor
    assert after["floors_mc"]["bad-5pct"] == after["floors_mc"]["bad-5pct-bursty"]
