"""A load generator that offers steady traffic through Envoy, for the demo and the tests.

The controller's analysis needs a known, steady request rate: the canary's sample size at
each tick is the rate times its weight. The generator is open-loop: requests are scheduled
at fixed times (``start + i / rate``) by one dispatcher thread and sent by a small pool of
worker threads, each holding one keep-alive ``http.client`` connection. A slow backend then
occupies workers but does not lower the offered rate, as long as the pool has room; when the
backlog exceeds ``max_backlog`` scheduled requests are dropped and counted, so a stalled
backend cannot build an unbounded queue. Every run is bounded by a duration and optionally a
request count.

Example::

    load = LoadGenerator(url=proxy.url, host="checkout", rate=200)
    report = load.run(requests=2_000)
    print(report.by_status)  # {200: 1994, 500: 6}
"""

from __future__ import annotations

import http.client
import queue
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["LoadGenerator", "LoadReport"]

_STOP = -1


@dataclass
class LoadReport:
    """What a run did: how many requests were scheduled, sent, answered (by status) or lost.

    ``sent`` = answered (``by_status``) + ``errors`` + ``in_flight``: a snapshot taken while
    traffic flows counts the requests still waiting for their answer apart.
    """

    scheduled: int = 0
    sent: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    dropped: int = 0
    in_flight: int = 0
    elapsed: float = 0.0
    latency_sum: float = 0.0

    @property
    def completed(self) -> int:
        return sum(self.by_status.values())

    @property
    def achieved_rate(self) -> float:
        return self.completed / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def mean_latency(self) -> float:
        return self.latency_sum / self.completed if self.completed else 0.0

    def count(self, *, status_class: int) -> int:
        """Responses whose status is in one class, e.g. ``count(status_class=5)`` for 5xx."""
        return sum(n for status, n in self.by_status.items() if status // 100 == status_class)


class LoadGenerator:
    """Steady open-loop HTTP traffic at ``rate`` requests per second to ``url``.

    ``host`` sets the Host header (the VirtualService host Envoy routes on); ``connections``
    is the size of the keep-alive pool, which bounds concurrency.
    """

    def __init__(
        self,
        *,
        url: str,
        rate: float,
        host: str | None = None,
        path: str = "/",
        headers: Mapping[str, str] | None = None,
        connections: int = 8,
        timeout: float = 5.0,
        max_backlog: int | None = None,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        if connections < 1:
            raise ValueError("at least one connection is needed")
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme != "http" or not parsed.hostname:
            raise ValueError(f"an http:// URL is needed, got {url!r}")
        self._address = (parsed.hostname, parsed.port or 80)
        self._path = path
        self._headers = dict(headers or {})
        if host is not None:
            self._headers["Host"] = host
        self._connections = connections
        self._timeout = timeout
        self._rate = float(rate)
        self._max_backlog = max_backlog if max_backlog is not None else max(int(rate), 1) + 64
        self._lock = threading.Lock()
        self._report = LoadReport()
        self._status: Counter[int] = Counter()
        self._tickets: queue.Queue[int] = queue.Queue()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._started_at = 0.0
        self._finished_at: float | None = None

    @property
    def rate(self) -> float:
        with self._lock:
            return self._rate

    def set_rate(self, rate: float) -> None:
        """Change the offered rate from now on."""
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        with self._lock:
            self._rate = float(rate)

    @property
    def running(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)

    def report(self) -> LoadReport:
        """A snapshot of the counts so far."""
        with self._lock:
            end = self._finished_at or time.monotonic()
            return LoadReport(
                scheduled=self._report.scheduled,
                sent=self._report.sent,
                by_status=dict(self._status),
                errors=self._report.errors,
                dropped=self._report.dropped,
                in_flight=self._report.sent - sum(self._status.values()) - self._report.errors,
                elapsed=end - self._started_at if self._started_at else 0.0,
                latency_sum=self._report.latency_sum,
            )

    def start(self, *, duration: float = 600.0, requests: int | None = None) -> LoadGenerator:
        """Start sending in the background, for at most ``duration`` seconds and ``requests``."""
        if self.running:
            raise RuntimeError("the load generator is already running")
        if duration <= 0:
            raise ValueError("duration must be positive")
        self._stopping.clear()
        self._started_at = time.monotonic()
        self._finished_at = None
        workers = [
            threading.Thread(target=self._work, name=f"loadgen-{i}", daemon=True)
            for i in range(self._connections)
        ]
        dispatcher = threading.Thread(
            target=self._dispatch,
            args=(self._started_at + duration, requests),
            name="loadgen-dispatch",
            daemon=True,
        )
        self._threads = [dispatcher, *workers]
        for thread in self._threads:
            thread.start()
        return self

    def wait(self, timeout: float | None = None) -> LoadReport:
        """Wait for the run to end by itself (duration or request count reached)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(remaining)
        if self.running:
            raise TimeoutError("the load generator is still running")
        return self.report()

    def stop(self) -> LoadReport:
        """Stop now: no new requests; requests in flight finish (bounded by ``timeout``)."""
        self._stopping.set()
        for thread in self._threads:
            thread.join(self._timeout + 1.0)
        self._threads = [thread for thread in self._threads if thread.is_alive()]
        with self._lock:
            if self._finished_at is None:
                self._finished_at = time.monotonic()
        return self.report()

    def run(self, *, duration: float = 600.0, requests: int | None = None) -> LoadReport:
        """Send in the foreground until ``duration`` or ``requests``, then report."""
        self.start(duration=duration, requests=requests)
        try:
            return self.wait(duration + self._timeout + 5.0)
        finally:
            self.stop()

    # -- threads ---------------------------------------------------------------------------

    def _dispatch(self, deadline: float, requests: int | None) -> None:
        """Release tickets on schedule; drop them when the backlog is full."""
        scheduled = 0
        epoch, epoch_count, epoch_rate = time.monotonic(), 0, self.rate
        try:
            while not self._stopping.is_set():
                now = time.monotonic()
                if now >= deadline or (requests is not None and scheduled >= requests):
                    break
                rate = self.rate
                if rate != epoch_rate:
                    epoch, epoch_count, epoch_rate = now, 0, rate
                due = int((now - epoch) * rate) + 1 - epoch_count
                if requests is not None:
                    due = min(due, requests - scheduled)
                for _ in range(max(due, 0)):
                    scheduled += 1
                    with self._lock:
                        self._report.scheduled += 1
                        backlog_full = self._tickets.qsize() >= self._max_backlog
                        if backlog_full:
                            self._report.dropped += 1
                    if not backlog_full:
                        self._tickets.put(scheduled)
                epoch_count += max(due, 0)
                next_time = epoch + epoch_count / rate
                self._stopping.wait(max(0.0, min(next_time, deadline) - time.monotonic()))
        finally:
            for _ in range(self._connections):
                self._tickets.put(_STOP)

    def _work(self) -> None:
        connection: http.client.HTTPConnection | None = None
        try:
            while True:
                ticket = self._tickets.get()
                if ticket == _STOP or self._stopping.is_set():
                    break
                if connection is None:
                    connection = http.client.HTTPConnection(*self._address, timeout=self._timeout)
                connection = self._send(connection)
        finally:
            if connection is not None:
                connection.close()
            with self._lock:
                if self._finished_at is None and not self._any_other_worker_alive():
                    self._finished_at = time.monotonic()

    def _any_other_worker_alive(self) -> bool:
        current = threading.current_thread()
        return any(t.is_alive() for t in self._threads if t is not current)

    def _send(self, connection: http.client.HTTPConnection) -> http.client.HTTPConnection | None:
        """Send one request; return the connection to reuse, or ``None`` after an error."""
        began = time.monotonic()
        with self._lock:
            self._report.sent += 1
        try:
            connection.request("GET", self._path, headers=self._headers)
            response = connection.getresponse()
            response.read()
            keep = not response.will_close
        except (OSError, http.client.HTTPException):
            connection.close()
            with self._lock:
                self._report.errors += 1
            return None
        with self._lock:
            self._status[response.status] += 1
            self._report.latency_sum += time.monotonic() - began
        if not keep:
            connection.close()
            return None
        return connection
