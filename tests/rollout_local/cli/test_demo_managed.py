"""``rollout demo --scenario managed`` end to end, with the real Envoy and Prometheus.

Inputs: the CLI in a subprocess, as a user runs it. Outputs: the JSON summary's outcomes
and its ``replicas`` timeline (``[seconds, replicas]`` points per version, written by the
demo's stand-in for the Deployment controller, ``rollout_local/demo/workloads.py``): v2 is
made by the controller and promoted, v3 made and rolled back, and at the end v1 (after
its keep window) and v3 are at zero replicas while v2 serves.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.rollout_local.cli.demo_process import STORY_TIMEOUT, demo_command, demo_env

pytestmark = pytest.mark.slow


def test_managed_v2_promoted_v3_rolled_back_and_both_retired_to_zero(tmp_path: Path) -> None:
    summary = tmp_path / "managed.json"
    done = subprocess.run(
        demo_command("--scenario", "managed", "--json", str(summary)),
        env=demo_env(),
        capture_output=True,
        text=True,
        timeout=STORY_TIMEOUT,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    found = json.loads(summary.read_text())
    assert found["as_expected"] is True
    outcomes = {v["version"]: v["outcome"] for v in found["versions"]}
    assert outcomes == {"v2": "promoted", "v3": "rolled-back"}
    assert (found["final"]["stable_version"], found["final"]["failed_version"]) == ("v2", "v3")
    replicas = found["replicas"]
    ends = {version: points[-1][1] for version, points in replicas.items()}
    assert ends["v1"] == 0 and ends["v3"] == 0 and ends["v2"] > 0, replicas
    assert replicas["v2"][0][1] >= 1 and max(n for _, n in replicas["v3"]) >= 1  # made, ran
    assert [v["replicas"] for v in found["versions"]] == [replicas["v2"], replicas["v3"]]
    assert "checkout-v1 scaled to 0" in done.stdout
