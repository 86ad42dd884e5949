"""Push hooks under a burst, and clients that stall and go away, against the real server.

Why: the hand-written ``http.server`` endpoint this project had before was measured
resetting 5-6 of 200 signed push hooks sent 25 at a time (its listen backlog was 5) and
logging 120 ``BrokenPipe`` tracebacks when 60 stalled clients disconnected. This runs the
same two loads against :class:`rollout.server.http.ControllerServer` (Starlette on
uvicorn) on 127.0.0.1 and prints what happened:

- ``burst``: ``--hooks`` GitHub pushes signed with the secret, ``--concurrency`` at a time,
  each on a fresh connection; the count per status (``reset`` for a connection the server
  refused or dropped) and the latency quantiles;
- ``stalled``: ``--stalled`` clients each announce a body, send part of it and stop; half
  go away before the server's request timeout, half after it, both by a reset (``SO_LINGER``
  0); then every log record the process emitted at any level is searched for a traceback.

The latency figures are for reading, not for asserting: the machine is shared. Usage:
``python -m bench.push_hooks [--hooks 200] [--concurrency 25] [--stalled 60] [--json F]``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import socket
import struct
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rollout.server import hooks
from rollout.server.http import GIT_HOOK_PATH, ControllerServer
from rollout.server.metrics import ControllerMetrics

SECRET = "bench-hook-secret"
_CLIENT_TIMEOUT = 60.0


class _Records(logging.Handler):
    """Every record any logger emits while the bench runs."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._lock:
            self.records.append(record)

    def tracebacks(self) -> list[str]:
        found = []
        for record in self.records:
            text = record.getMessage()
            if record.exc_info or record.exc_text or "Traceback" in text:
                found.append(f"{record.name}: {text}")
        return found


def _push(port: int, index: int) -> tuple[str, float]:
    body = json.dumps(
        {"ref": "refs/heads/main", "after": f"{index + 1:040x}", "commits": []}
    ).encode()
    headers = {
        "X-Hub-Signature-256": hooks.sign_body(body, SECRET),
        "X-GitHub-Event": "push",
        "Content-Type": "application/json",
    }
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=_CLIENT_TIMEOUT)
    try:
        connection.request("POST", GIT_HOOK_PATH, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        outcome = str(response.status)
    except (ConnectionError, http.client.HTTPException, OSError):
        outcome = "reset"
    finally:
        connection.close()
    return outcome, time.perf_counter() - started


def burst(port: int, *, count: int, concurrency: int) -> dict[str, object]:
    """``count`` signed pushes, ``concurrency`` in flight at a time."""
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        results = list(pool.map(lambda i: _push(port, i), range(count)))
    latencies = sorted(seconds for _, seconds in results)
    return {
        "hooks": count,
        "concurrency": concurrency,
        "outcomes": dict(Counter(outcome for outcome, _ in results)),
        "p50_ms": round(_quantile(latencies, 0.50) * 1000, 1),
        "p95_ms": round(_quantile(latencies, 0.95) * 1000, 1),
        "max_ms": round(latencies[-1] * 1000, 1),
    }


def stalled(port: int, *, count: int, request_timeout: float) -> dict[str, object]:
    """``count`` clients that send part of a body and vanish, before or after the timeout."""
    head = (
        f"POST {GIT_HOOK_PATH} HTTP/1.1\r\nHost: bench\r\nContent-Length: 4096\r\n"
        f"X-Hub-Signature-256: sha256={'0' * 64}\r\n\r\n"
    ).encode()
    clients = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=_CLIENT_TIMEOUT)
        sock.sendall(head + b"{" * 100)
        clients.append(sock)
    early, late = clients[: count // 2], clients[count // 2 :]
    for sock in early:
        _reset(sock)
    time.sleep(request_timeout * 2 + 0.5)  # the server answers 408 to the rest by now
    for sock in late:
        _reset(sock)
    return {"stalled_clients": count, "gone_before_timeout": len(early), "after": len(late)}


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset, as a client that crashed or a proxy that gave up does."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _quantile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))]


def run(*, count: int, concurrency: int, stalled_count: int) -> dict[str, object]:
    records = _Records()
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(records)
    root.setLevel(logging.DEBUG)
    pushes = Counter[str]()
    request_timeout = 1.0
    try:
        with ControllerServer(
            metrics=ControllerMetrics(),
            on_push=lambda branch, commit: pushes.update([branch or "-"]),
            hook_secret=SECRET,
            request_timeout=request_timeout,
        ) as server:
            report: dict[str, object] = {
                "burst": burst(server.port, count=count, concurrency=concurrency)
            }
            report["stalled"] = stalled(
                server.port, count=stalled_count, request_timeout=request_timeout
            )
            time.sleep(0.5)
        report["pushes_scheduled"] = sum(pushes.values())
        report["tracebacks"] = records.tracebacks()
        report["hook_warnings"] = dict(
            Counter(
                r.getMessage().rpartition(": ")[2]
                for r in records.records
                if r.getMessage().startswith("rejected a git webhook")
            )
        )
    finally:
        root.removeHandler(records)
        root.setLevel(previous_level)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hooks", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=25)
    parser.add_argument("--stalled", type=int, default=60)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    report = run(count=args.hooks, concurrency=args.concurrency, stalled_count=args.stalled)
    burst_report = report["burst"]
    assert isinstance(burst_report, dict)
    print(
        f"burst: {args.hooks} signed pushes, {args.concurrency} at a time: "
        f"{burst_report['outcomes']}; p50 {burst_report['p50_ms']} ms, "
        f"p95 {burst_report['p95_ms']} ms, max {burst_report['max_ms']} ms; "
        f"{report['pushes_scheduled']} syncs scheduled"
    )
    tracebacks = report["tracebacks"]
    assert isinstance(tracebacks, list)
    print(
        f"stalled: {args.stalled} clients reset mid-body: {len(tracebacks)} tracebacks logged; "
        f"rejections logged: {report['hook_warnings']}"
    )
    for line in tracebacks[:5]:
        print(f"  {line}")
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
