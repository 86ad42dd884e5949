"""``rollout dashboard`` run as a person runs it: a process, and the URL it printed."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

URL_LINE = re.compile(r"(http://127\.0\.0\.1:\d+)/\?token=([A-Za-z0-9_-]+)")


class Dashboard:
    """A running ``rollout dashboard``: its base URL and the one-time token it printed."""

    def __init__(self, process: subprocess.Popen[str], base: str, token: str) -> None:
        self.process, self.base, self.token = process, base, token

    @property
    def url(self) -> str:
        return f"{self.base}/?token={self.token}"


@contextlib.contextmanager
def running_dashboard(kubeconfig: Path, *, interval: float = 0.5) -> Iterator[Dashboard]:
    """``rollout dashboard --port 0`` with ``kubeconfig``, stopped (SIGTERM) afterwards."""
    process = subprocess.Popen(
        [sys.executable, "-m", "rollout", "dashboard", "--port", "0", "--interval", str(interval)],
        env={"KUBECONFIG": str(kubeconfig), "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        found = None
        for line in process.stdout:
            found = URL_LINE.search(line)
            if found:
                break
        assert found, process.stderr.read() if process.stderr else "no URL printed"
        yield Dashboard(process, found.group(1), found.group(2))
    finally:
        process.terminate()
        process.wait(timeout=30)
