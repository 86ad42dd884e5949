"""How the demo tests run ``rollout demo``: the command, its environment and its time limit."""

from __future__ import annotations

import os
import sys
from pathlib import Path

STORY_TIMEOUT = 240.0
REPO_ROOT = Path(__file__).resolve().parents[3]


def demo_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "rollout", "demo", *args]


def demo_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    return env
