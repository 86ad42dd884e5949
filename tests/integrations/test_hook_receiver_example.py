"""The example hook receiver (``examples/hooks/receiver.py``) with the controller's caller.

Inputs: the example run as a process, the real HTTP hook caller, and a small HTTP server
standing for the canary. Outputs under test: a gate is answered no until the approval
file exists and yes after, a wrong signature is refused, and a ``load`` call sends the
canary exactly the bounded number of requests, once per run.
"""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rollout.notify.factory import EnvSecretResolver
from rollout.notify.hooks import HttpHookCaller
from rollout.spec.hooks import Hook, HookKind
from rollout.version_ports import HookCall

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hooks" / "receiver.py"
KEY = "example-key"
LOAD_REQUESTS = 5


class Canary(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        self.hits = 0
        self.lock = threading.Lock()
        canary = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with canary.lock:
                    canary.hits += 1
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                return

        super().__init__(("127.0.0.1", 0), Handler)


@pytest.fixture
def canary() -> Iterator[Canary]:
    server = Canary()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def example(tmp_path: Path, canary: Canary) -> Iterator[str]:
    command = [
        sys.executable, "-u", str(EXAMPLE), "--host", "127.0.0.1", "--port", "0",
        "--approval-file", str(tmp_path / "approved"),
        "--canary-url", f"http://127.0.0.1:{canary.server_address[1]}/",
        "--load-requests", str(LOAD_REQUESTS), "--load-seconds", "60",
    ]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, text=True, env={"HOOK_KEY": KEY, "PATH": "/usr/bin"}
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("listening on "), first
        yield f"http://{first.split()[-1]}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def call(kind: HookKind) -> HookCall:
    return HookCall(
        kind=kind, namespace="shop", rollout="checkout", stable_version="v1",
        canary_version="v2", step=0, weight=0, next_weight=10, phase="Progressing",
        revision="v2@abc",
    )  # fmt: skip


def hook(kind: HookKind) -> Hook:
    return Hook.model_validate(
        {"name": "example", "type": kind.value, "url": {"env": "URL"},
         "signingSecret": {"env": "KEY"}, "timeout": "5s", "retries": 0}
    )  # fmt: skip


def test_gates_wait_for_the_approval_file(example: str, tmp_path: Path) -> None:
    caller = HttpHookCaller(resolver=EnvSecretResolver({"URL": example, "KEY": KEY}))
    try:
        refused = caller.call(hook(HookKind.CONFIRM_STEP), call(HookKind.CONFIRM_STEP))
        assert refused.outcome == "no"
        assert "waiting for approval" in refused.detail
        (tmp_path / "approved").touch()
        approved = caller.call(hook(HookKind.CONFIRM_STEP), call(HookKind.CONFIRM_STEP))
        assert approved.outcome == "yes"
        wrong = HttpHookCaller(resolver=EnvSecretResolver({"URL": example, "KEY": "wrong"}))
        assert wrong.call(hook(HookKind.PRE_ROLLOUT), call(HookKind.PRE_ROLLOUT)).outcome == "no"
        wrong.close()
    finally:
        caller.close()


def test_a_load_call_sends_the_canary_a_bounded_load(example: str, canary: Canary) -> None:
    caller = HttpHookCaller(resolver=EnvSecretResolver({"URL": example, "KEY": KEY}))
    try:
        answer = caller.call(hook(HookKind.LOAD), call(HookKind.LOAD))
        assert answer.outcome == "yes"
        deadline = time.monotonic() + 60
        while canary.hits < LOAD_REQUESTS and time.monotonic() < deadline:
            time.sleep(0.1)
        assert canary.hits == LOAD_REQUESTS
        time.sleep(0.5)  # the run is over: nothing more arrives
        assert canary.hits == LOAD_REQUESTS
    finally:
        caller.close()
