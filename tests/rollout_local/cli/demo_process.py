"""How the demo tests run ``rollout demo``: the command, its environment, its time limit, and
one scenario run to its JSON summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

STORY_TIMEOUT = 240.0
REPO_ROOT = Path(__file__).resolve().parents[3]


def demo_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "rollout", "demo", *args]


def demo_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_scenario(tmp_path: Path, scenario: str) -> dict[str, Any]:
    """Run ``rollout demo --scenario <scenario> --json``; its summary, once it ends well."""
    summary = tmp_path / f"{scenario}.json"
    done = subprocess.run(
        demo_command(
            "--scenario", scenario, "--json", str(summary), "--report", str(tmp_path / "r.html")
        ),
        env=demo_env(),
        capture_output=True,
        text=True,
        timeout=STORY_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    found: dict[str, Any] = json.loads(summary.read_text())
    assert found["as_expected"] is True and found["final"]["phase"] == "Succeeded"
    return found
