"""``rollout demo --scenario ab|mirror|bluegreen`` end to end, with the real Envoy and Prometheus.

Inputs: the CLI in a subprocess, as a user runs it. Outputs: the JSON summary's
``routing_steps``, what the demo's routing probe measured step by step behind Envoy
(``rollout_local/demo/routing_probe.py``), and the outcome.

The header route and the sticky routes are deterministic (a match, not a draw): the shares
they give are 1 and 0 exactly, so they are asserted with no band beyond the issue's 0.99.
Mirroring is a draw per request (Envoy's runtime fraction): over the ~1,700 live requests
of a 10 s step at 200 req/s the mirrored share has a standard deviation of at most 1.2
points (p = 0.5), so the issue's 5 points are over four of them; the test insists on at
least 1,000 live requests, where 5 points are still three.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.rollout_local.cli.demo_process import run_scenario

pytestmark = pytest.mark.slow


def routing_steps(summary: dict[str, Any]) -> list[dict[str, Any]]:
    (version,) = summary["versions"]
    assert version["outcome"] == "promoted"
    steps: list[dict[str, Any]] = version["routing_steps"]
    return steps


def test_ab_the_header_reaches_the_canary_others_wait_for_weights_and_nobody_flips(
    tmp_path: Path,
) -> None:
    steps = routing_steps(run_scenario(tmp_path, "ab"))
    assert steps[0]["weight"] == 0, "the header route comes before the weights"
    assert sum(step["header_requests"] for step in steps) >= 50
    for step in steps:
        assert step["header_share"] >= 0.99, step
        assert step["session_flips"] == 0, step
    at_zero = [step for step in steps if step["weight"] == 0]
    assert at_zero and all(step["others_to_canary"] == 0.0 for step in at_zero), at_zero
    assert max(step["weight"] for step in steps) > 0
    # users who arrived once the canary had weight reached it, and stayed there
    assert steps[-1]["session_users_on_canary"] > 0, steps[-1]


def test_mirror_each_step_mirrors_its_percentage_and_no_client_sees_the_canary(
    tmp_path: Path,
) -> None:
    steps = routing_steps(run_scenario(tmp_path, "mirror"))
    mirrored = [step for step in steps if step["mirror_percent"]]
    assert [step["mirror_percent"] for step in mirrored] == [20.0, 50.0]
    for step in mirrored:
        assert step["weight"] == 0, step
        assert step["live_requests"] >= 1_000, step
        assert abs(step["mirrored_percent"] - step["mirror_percent"]) <= 5.0, step
        assert step["others_to_canary"] == 0.0, "a client saw the canary's answer"
    assert all(step["mirrored_percent"] is None for step in steps if not step["mirror_percent"])


def test_bluegreen_previews_by_header_then_switches_from_0_to_100_in_one_step(
    tmp_path: Path,
) -> None:
    summary = run_scenario(tmp_path, "bluegreen")
    steps = routing_steps(summary)
    (version,) = summary["versions"]
    assert [step["weight"] for step in version["steps"]] == [100], version["steps"]
    preview = [step for step in steps if step["weight"] == 0]
    assert preview, steps
    for step in preview:
        assert step["header_share"] >= 0.99, step
        assert step["others_to_canary"] == 0.0, "no live traffic before the switch"
    assert {step["weight"] for step in steps} <= {0, 100}
