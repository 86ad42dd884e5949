"""Waiting for Prometheus: until a condition holds, or until a query returns a value.

Helpers for the tests that read the test-driven Istio exporter through a real Prometheus
(the fixtures are in ``tests/conftest.py`` and ``tests/metrics/conftest.py``).
"""

from __future__ import annotations

import contextlib
import http.server
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from rollout.metrics.prometheus import PrometheusProvider


def wait_until(
    condition: Callable[[], bool], *, timeout: float = 15.0, every: float = 0.25
) -> None:
    """Poll ``condition`` (bounded in time) until it holds; fail the test otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(every)
    pytest.fail(f"condition not met within {timeout}s")


def wait_for_scrape(provider: PrometheusProvider, query: str, expected: float) -> None:
    """Wait until Prometheus has scraped a counter up to ``expected``."""

    def scraped() -> bool:
        series = provider.query_series(query)
        return sum(s.value for s in series) >= expected

    wait_until(scraped)


class AnswerHandler(http.server.BaseHTTPRequestHandler):
    """A stand-in for Prometheus' API in a test: ``answer`` says what to send back to the
    request (a GET, or a POST whose form ``form`` holds)."""

    def answer(self) -> tuple[int, bytes]:
        raise NotImplementedError

    def do_GET(self) -> None:
        self.form = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        code, body = self.answer()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET  # instant queries come as a form body

    def log_message(self, format: str, *args: object) -> None:
        return


@contextlib.contextmanager
def serving(handler: type[AnswerHandler]) -> Iterator[str]:
    """``handler`` on a free local port, for the duration; its base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
