"""``rollout demo --scenario gateway-api`` end to end: the weighted story on an HTTPRoute.

Inputs: the CLI in a subprocess, as a user runs it; the demo's cluster routes checkout by
an HTTPRoute and its two Services, which the mesh agent turns into the real Envoy's
routes. Outputs: the JSON summary's ``http_route`` (every change the controller made to
the HTTPRoute and the Services, and for each step the HTTPRoute in force beside the share
Envoy measured), the final split at Envoy, and the outcome.

Envoy draws each request (weighted clusters), so a step's measured share is binomial: at
5 s of 200 req/s (about 1,000 requests) its standard deviation is at most 1.6 points; the
test asks for at least 500 requests, where the 8 points allowed are still over 3.5 of them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.rollout_local.cli.demo_process import run_scenario

pytestmark = pytest.mark.slow

PRIMARY, CANARY = "checkout-primary", "checkout-canary"


def test_gateway_api_the_httproute_weights_are_what_envoy_serves_and_v2_is_promoted(
    tmp_path: Path,
) -> None:
    summary = run_scenario(tmp_path, "gateway-api")
    (version,) = summary["versions"]
    assert version["outcome"] == "promoted"
    steps = summary["http_route"]["steps"]
    assert [step["weight"] for step in steps] == [10, 30, 60]
    for step in steps:
        weight = step["weight"]
        assert step["backend_weights"] == {PRIMARY: 100 - weight, CANARY: weight}, step
        assert step["service_versions"] == {PRIMARY: "v1", CANARY: "v2"}, step
        assert step["requests"] >= 500, step
        assert abs(step["measured_share"] - weight) <= 8.0, step
    final = summary["http_route"]["final"]
    assert final == {
        "backend_weights": {PRIMARY: 100},
        "service_versions": {PRIMARY: "v2", CANARY: "v2"},
    }
    assert summary["final"]["envoy"] == {"v2": 100}
    # traffic never went back to v1 once v2 had some: at the promotion the stable Service
    # moved to v2 before the HTTPRoute gave it everything
    changes = summary["http_route"]["changes"]
    first_canary = next(i for i, c in enumerate(changes) if c["backend_weights"].get(CANARY))
    for change in changes[first_canary:]:
        on_v1 = [name for name, v in change["service_versions"].items() if v == "v1"]
        assert sum(change["backend_weights"].get(name, 0) for name in on_v1) < 100, change
