"""``rollout local apiserver`` serves in the foreground and stops cleanly on Ctrl-C.

Inputs: the real command started as a subprocess with ``--port 0`` and ``--kubeconfig``.
Outputs: the kubeconfig it writes works for kubectl; SIGINT ends it with exit code 0.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

STARTUP_SECONDS = 20


def test_apiserver_command_serves_until_interrupted(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    entry = "from rollout.cli.main import main; main()"
    command = [sys.executable, "-c", entry, "local", "apiserver", "--port", "0"]
    server = subprocess.Popen(
        [*command, "--kubeconfig", str(kubeconfig)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert server.stdout is not None
        first_line = server.stdout.readline()
        assert first_line.startswith("local API server listening on http://127.0.0.1:")
        deadline = time.monotonic() + STARTUP_SECONDS
        while not kubeconfig.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        kubectl = shutil.which("kubectl")
        assert kubectl
        namespaces = subprocess.run(
            [kubectl, "--kubeconfig", str(kubeconfig), "--cache-dir", str(tmp_path / "c"),
             "get", "namespaces", "-o", "name"],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        assert "namespace/default" in namespaces.stdout.split()
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=15) == 0
        assert "local API server stopped" in server.stdout.read()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=10)
        if server.stdout is not None:
            server.stdout.close()
