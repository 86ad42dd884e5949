"""The demo's rollout spec and spec repository.

Inputs: ``DemoSpec`` knobs (request rate, manual gate) and pushes to a real bare Git
repository. Outputs: spec text that the project's own catalog accepts with the shipped
policies (steps, sample size, policy parameters as the demo needs them), and commits on
the remote's ``main`` as a user's push would leave them.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from rollout.source.files import read_catalog
from rollout.spec import catalog
from rollout_local.demo.spec_repo import SPEC_PATH, DemoSpec, SpecRepository


def load(text: str) -> catalog.LoadedRollout:
    loaded = read_catalog({SPEC_PATH: text})
    assert loaded.ok, [str(problem) for problem in loaded.problems]
    return loaded.rollouts["demo/checkout"]


def test_the_spec_walks_10_30_60_with_analysis_and_promotes_after() -> None:
    entry = load(DemoSpec.for_rate(200).render("v2"))
    spec = entry.rollout.spec
    assert spec.version == "v2"
    assert [s.kind for s in spec.steps] == ["setWeight", "analyze"] * 3
    assert entry.rollout.planned_weights() == [10, 10, 30, 30, 60, 60]
    assert spec.analysis.interval == "1s"
    assert spec.analysis.min_sample_size == 200  # 10% of 200 req/s for 10 s
    params = {ref.name: ref.params for ref in spec.analysis.policies}
    assert "istio-latency-p99" not in params  # a p99 threshold has no error control
    assert params["istio-slow-request-ratio"] == {"bucketMs": "250", "maxSlowRatio": 0.05}
    assert {policy.name for policy in entry.policies} == set(params)


def test_a_manual_gate_pauses_until_promoted_and_small_rates_keep_a_floor() -> None:
    spec = load(DemoSpec.for_rate(40, manual_gate_after=1).render("v3")).rollout.spec
    assert [s.kind for s in spec.steps] == [
        "setWeight",
        "analyze",
        "setWeight",
        "pause",
        "setWeight",
        "analyze",
    ]
    assert spec.steps[3].pause is not None and spec.steps[3].pause.duration is None
    assert spec.analysis.min_sample_size == 50


def test_each_push_is_a_commit_on_the_remote(tmp_path: Path) -> None:
    repo = SpecRepository(tmp_path, DemoSpec())
    first = repo.push("v1")
    second = repo.push("v2")
    assert first != second
    remote_head = subprocess.run(
        ["git", "--git-dir", str(repo.remote), "rev-parse", "main"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert remote_head == second
    shown = subprocess.run(
        ["git", "--git-dir", str(repo.remote), "show", f"main:{SPEC_PATH}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "version: v2" in shown
    assert repo.url == f"file://{repo.remote}"
