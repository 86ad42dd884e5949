"""A tiny exporter of Istio's standard request metrics that a test drives by hand.

Real Prometheus scrapes it like it would scrape an Envoy sidecar, so the shipped policies
run unchanged against it. The test decides exactly how many requests each workload served,
with which response codes and durations, and can simulate a pod restart (counter reset) or
a workload that stops reporting. Exposed series, with ``reporter="source"`` (the
callers' view, as the shipped policies' counts read it) unless a record says
``reporter="destination"`` (the version's own sidecars, as their ``pod*`` queries read it):

- ``istio_requests_total{destination_workload, destination_workload_namespace, response_code}``
- ``istio_request_duration_milliseconds_bucket{..., le}`` with ``_count`` and ``_sum``
"""

from __future__ import annotations

import bisect
import dataclasses
import http.server
import threading
from collections import defaultdict
from types import TracebackType

BUCKETS_MS = (1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0)
"""Istio's default duration buckets (the tail of them), in milliseconds."""


def _format_le(bound: float) -> str:
    return str(int(bound)) if bound == int(bound) else str(bound)


@dataclasses.dataclass
class _Workload:
    namespace: str
    name: str = ""
    pod: str | None = None
    reporter: str = "source"
    requests_by_code: dict[str, int] = dataclasses.field(default_factory=lambda: defaultdict(int))
    bucket_counts: list[int] = dataclasses.field(default_factory=lambda: [0] * len(BUCKETS_MS))
    count: int = 0
    sum_ms: float = 0.0


class IstioExporter:
    """An HTTP server on 127.0.0.1 serving ``/metrics`` from counters the test sets."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._workloads: dict[str, _Workload] = {}
        self._hidden: set[str] = set()
        exporter = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404)
                    return
                body = exporter.render().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def target(self) -> str:
        """``host:port`` for a Prometheus static config."""
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    def scrape_config(self, job: str = "istio") -> dict[str, object]:
        return {"job_name": job, "static_configs": [{"targets": [self.target]}]}

    def record(
        self,
        workload: str,
        *,
        namespace: str = "shop",
        requests: int,
        code: str = "200",
        duration_ms: float = 20.0,
        pod: str | None = None,
        reporter: str = "source",
    ) -> None:
        """Count ``requests`` answered with ``code``, each taking ``duration_ms``; with
        ``pod``, on that pod's series of the workload (a ``pod`` label, as a scrape adds:
        a calling pod under the source reporter, the workload's own under the destination
        reporter)."""
        key = workload if pod is None else f"{workload}/{pod}"
        if reporter != "source":
            key += f"@{reporter}"
        with self._lock:
            state = self._workloads.setdefault(
                key, _Workload(namespace=namespace, name=workload, pod=pod, reporter=reporter)
            )
            state.requests_by_code[code] += requests
            first_bucket = bisect.bisect_left(BUCKETS_MS, duration_ms)
            for index in range(first_bucket, len(BUCKETS_MS)):
                state.bucket_counts[index] += requests
            state.count += requests
            state.sum_ms += requests * duration_ms

    def reset(self, workload: str) -> None:
        """Forget a workload's counters, as a restarted pod does (a counter reset)."""
        with self._lock:
            old = self._workloads[workload]
            self._workloads[workload] = _Workload(old.namespace, old.name, old.pod, old.reporter)

    def hide(self, workload: str) -> None:
        """Stop exposing a workload's series: it goes stale in Prometheus."""
        with self._lock:
            self._hidden.add(workload)

    def render(self) -> str:
        lines = [
            "# TYPE istio_requests_total counter",
            "# TYPE istio_request_duration_milliseconds histogram",
        ]
        with self._lock:
            for name, state in sorted(self._workloads.items()):
                if name in self._hidden:
                    continue
                labels = (
                    f'reporter="{state.reporter}",destination_workload="{state.name or name}",'
                    f'destination_workload_namespace="{state.namespace}"'
                )
                if state.pod is not None:
                    labels += f',pod="{state.pod}"'

                for code, total in sorted(state.requests_by_code.items()):
                    lines.append(f'istio_requests_total{{{labels},response_code="{code}"}} {total}')
                for bound, cumulative in zip(BUCKETS_MS, state.bucket_counts, strict=True):
                    lines.append(
                        f"istio_request_duration_milliseconds_bucket"
                        f'{{{labels},le="{_format_le(bound)}"}} {cumulative}'
                    )
                lines.append(
                    f'istio_request_duration_milliseconds_bucket{{{labels},le="+Inf"}} '
                    f"{state.count}"
                )
                lines.append(f"istio_request_duration_milliseconds_count{{{labels}}} {state.count}")
                lines.append(f"istio_request_duration_milliseconds_sum{{{labels}}} {state.sum_ms}")
        return "\n".join(lines) + "\n"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> IstioExporter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
