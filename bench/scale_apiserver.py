"""The local API server for ``bench.scale``, in a process of its own.

Run in the benchmark's own process, the stand-in API server shared one interpreter lock
with the benchmark's watchers and request clock: at 1,000 rollouts the controller waited on
a server that waited on the benchmark, and the figures measured the harness. Here it runs
as a child process (``python -m bench.scale_apiserver``) that writes its kubeconfig and its
request log (JSON lines, :func:`kubelite.read_request_log`) into the benchmark's working
directory, and serves until SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from kubelite import LocalApiServer

__all__ = ["ApiServerProcess", "main"]


class ApiServerProcess:
    """A child process serving the stand-in API server; ``kubeconfig`` and ``request_log``
    are its files."""

    def __init__(self, workdir: Path, *, history_limit: int) -> None:
        self.kubeconfig = workdir / "kubeconfig"
        self.request_log = workdir / "requests.jsonl"
        self._output = (workdir / "apiserver.log").open("wb")
        self._process = subprocess.Popen(
            [
                *(sys.executable, "-m", "bench.scale_apiserver"),
                *("--kubeconfig", str(self.kubeconfig), "--request-log", str(self.request_log)),
                *("--history-limit", str(history_limit)),
            ],
            stdout=self._output,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.pid = self._process.pid

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.kubeconfig.exists():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit("bench.scale: the API server process did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._output.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scale_apiserver")
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--request-log", type=Path, required=True)
    parser.add_argument("--history-limit", type=int, default=1000)
    args = parser.parse_args(argv)
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    server = LocalApiServer(history_limit=args.history_limit, request_log=args.request_log)
    with server:
        written = server.write_kubeconfig(args.kubeconfig.with_suffix(".partial"))
        written.rename(args.kubeconfig)  # the parent waits for the whole file
        stop.wait()


if __name__ == "__main__":
    main()
