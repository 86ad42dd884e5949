"""Small HTTP services that stand in for two versions of an application behind Envoy.

A rollout demo needs a stable version and a canary whose health can be dialled: an error
rate (answered as HTTP 500) and a latency distribution, both changeable while traffic flows,
so a test or the demo can make the canary go bad half-way through and watch the controller
react. Each ``DemoService`` is one ``ThreadingHTTPServer`` on ``127.0.0.1`` speaking HTTP/1.1
with keep-alive, with Nagle's algorithm disabled (without it Envoy's pooled connections stall
on delayed ACKs and throughput collapses to about 25 requests per second).

Outcomes are drawn from a seeded random generator, so a given seed yields the same sequence
of (status, latency) draws. Each service counts what it served by status code.

Example::

    with DemoService(name="checkout", version="v2", behaviour=Behaviour(error_rate=0.05)) as v2:
        print(v2.address)  # 127.0.0.1:<port>
        v2.configure(Behaviour(error_rate=0.0, latency_median_ms=20))
"""

from __future__ import annotations

import json
import logging
import math
import random
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from rollout_local.lifecycle import Lifecycle, ServingThread

__all__ = ["Behaviour", "DemoService"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Behaviour:
    """How a service answers: a share of 500s and a latency distribution.

    Latency is lognormal around ``latency_median_ms`` with shape ``latency_sigma`` (0 gives a
    fixed latency), plus a uniform ``latency_jitter_ms``, capped at ``latency_max_ms``.
    """

    error_rate: float = 0.0
    latency_median_ms: float = 0.0
    latency_sigma: float = 0.0
    latency_jitter_ms: float = 0.0
    latency_max_ms: float = 10_000.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError(f"error_rate must be within [0, 1], got {self.error_rate}")
        for name in ("latency_median_ms", "latency_sigma", "latency_jitter_ms", "latency_max_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")

    def draw(self, generator: random.Random) -> tuple[int, float]:
        """One outcome: (HTTP status, latency in seconds)."""
        status = 500 if generator.random() < self.error_rate else 200
        latency_ms = 0.0
        if self.latency_median_ms > 0:
            latency_ms = self.latency_median_ms
            if self.latency_sigma > 0:
                latency_ms *= math.exp(generator.gauss(0.0, self.latency_sigma))
        if self.latency_jitter_ms > 0:
            latency_ms += generator.uniform(0.0, self.latency_jitter_ms)
        return status, min(latency_ms, self.latency_max_ms) / 1000.0


class _Handler(BaseHTTPRequestHandler):
    """Answers every GET/POST with the outcome the service draws."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 60
    server: _Server
    error_content_type = "application/json"

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self._answer()

    def _answer(self) -> None:
        service = self.server.service
        status, latency = service.draw()
        if latency > 0:
            time.sleep(latency)
        body = json.dumps(
            {"service": service.name, "version": service.version, "status": status}
        ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Version", service.version)
        self.end_headers()
        self.wfile.write(body)
        service.record(status)

    def log_message(self, format: str, *args: object) -> None:
        """Keep request logs out of the test output."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, service: DemoService) -> None:
        self.service = service
        super().__init__(("127.0.0.1", service.requested_port), _Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        """A client gone mid-answer (Envoy stopping, as on Ctrl-C in a terminal, which
        signals the whole process group) is normal here: no traceback. Anything else is
        logged, not printed over the demo's output."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError):
            return
        log.warning(
            "%s: request from %s failed", self.service.workload, client_address, exc_info=True
        )


class DemoService(Lifecycle):
    """One version of a demo application, listening on ``127.0.0.1``.

    ``name`` and ``version`` make the workload name ``<name>-<version>`` (the Deployment a
    real cluster would run); ``seed`` fixes the sequence of drawn outcomes.
    """

    def __init__(
        self,
        *,
        name: str,
        version: str,
        behaviour: Behaviour | None = None,
        seed: int = 0,
        port: int = 0,
    ) -> None:
        self.name = name
        self.version = version
        self.requested_port = port
        self._behaviour = behaviour or Behaviour()
        self._random = random.Random(f"{seed}:{name}:{version}")
        self._lock = threading.Lock()
        self._counts: Counter[int] = Counter()
        self._serving: ServingThread | None = None

    @property
    def workload(self) -> str:
        """The Deployment name a cluster would give this version, e.g. ``checkout-v2``."""
        return f"{self.name}-{self.version}"

    @property
    def behaviour(self) -> Behaviour:
        with self._lock:
            return self._behaviour

    @property
    def port(self) -> int:
        if self._serving is None:
            raise RuntimeError(f"{self.workload} is not started")
        return self._serving.port

    @property
    def address(self) -> str:
        """``127.0.0.1:<port>``, the backend address Envoy's cluster points at."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def configure(self, behaviour: Behaviour) -> None:
        """Change the error rate and latency from the next request on."""
        with self._lock:
            self._behaviour = behaviour

    def draw(self) -> tuple[int, float]:
        with self._lock:
            return self._behaviour.draw(self._random)

    def record(self, status: int) -> None:
        with self._lock:
            self._counts[status] += 1

    def counts(self) -> dict[int, int]:
        """Requests answered so far, by status code."""
        with self._lock:
            return dict(self._counts)

    @property
    def served(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    def reset_counts(self) -> None:
        with self._lock:
            self._counts.clear()

    def start(self) -> DemoService:
        if self._serving is None:
            self._serving = ServingThread(
                _Server(self), name=f"demo-{self.workload}", poll_interval=0.1
            )
        return self

    def stop(self) -> None:
        serving, self._serving = self._serving, None
        if serving is not None:
            serving.close()
