"""An example receiver for a rollout's hooks (docs/hooks.md), standard library only.

- Checks ``X-Rollout-Signature-256`` with the key in ``HOOK_KEY`` (401 when it is wrong;
  no check when ``HOOK_KEY`` is unset).
- ``pre-rollout``, ``confirm-step``, ``confirm-promotion``: yes (200) when the approval file
  exists, no (403) otherwise; with no ``--approval-file``, always yes.
- ``load``: sends at most ``--load-requests`` GET requests to ``--canary-url``, one at a
  time, for at most ``--load-seconds``; a second ``load`` call while one runs starts
  nothing. Answers 202 at once.
- ``post-promotion``, ``rollback`` and anything else: printed, answered 200.

Run: ``HOOK_KEY=... python receiver.py --port 8080 --approval-file /tmp/qa-approved
--canary-url http://checkout-canary.shop:8080/``.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.server
import json
import os
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

GATES = {"pre-rollout", "confirm-step", "confirm-promotion"}


class BoundedLoad:
    """One load run at a time, bounded in requests and in seconds."""

    def __init__(self, url: str | None, requests: int, seconds: float) -> None:
        self.url = url
        self.requests = requests
        self.seconds = seconds
        self._running = threading.Lock()

    def start(self) -> bool:
        if self.url is None or not self._running.acquire(blocking=False):
            return False
        threading.Thread(target=self._run, daemon=True).start()
        return True

    def _run(self) -> None:
        assert self.url is not None
        deadline = time.monotonic() + self.seconds
        try:
            for _ in range(self.requests):
                if time.monotonic() >= deadline:
                    break
                try:
                    with urllib.request.urlopen(self.url, timeout=2) as response:  # noqa: S310
                        response.read()
                except OSError:
                    pass  # an error is traffic the analysis counts too
        finally:
            self._running.release()


def handler_for(key: str | None, approval: Path | None, load: BoundedLoad) -> type:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if key is not None:
                expected = "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()
                given = self.headers.get("X-Rollout-Signature-256") or ""
                if not hmac.compare_digest(expected, given):
                    return self.answer(401, "bad signature")
            call: dict[str, Any] = json.loads(body or b"{}")
            kind = call.get("hook", "")
            what = f"{kind} {call.get('namespace')}/{call.get('rollout')} {call.get('canaryVersion')}"
            if kind in GATES:
                if approval is None or approval.exists():
                    return self.answer(200, f"approved: {what}")
                return self.answer(403, f"waiting for approval (create {approval})")
            if kind == "load":
                started = load.start()
                return self.answer(202, "load started" if started else "load already running")
            print(f"told: {what} (step {call.get('step')}, weight {call.get('weight')})")
            return self.answer(200, "ok")

        def answer(self, status: int, text: str) -> None:
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            print(format % args, flush=True)

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="0.0.0.0")  # noqa: S104
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--approval-file", type=Path)
    parser.add_argument("--canary-url")
    parser.add_argument("--load-requests", type=int, default=200)
    parser.add_argument("--load-seconds", type=float, default=30.0)
    args = parser.parse_args()
    load = BoundedLoad(args.canary_url, args.load_requests, args.load_seconds)
    handler = handler_for(os.environ.get("HOOK_KEY"), args.approval_file, load)
    server = http.server.ThreadingHTTPServer((args.host, args.port), handler)
    print(f"listening on {args.host}:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
