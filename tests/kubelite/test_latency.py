"""Request latency of the local API server on a keep-alive connection.

Inputs: twenty GET requests sent one after another on one HTTP/1.1 connection, as the
official client's connection pool does. Output: they take milliseconds, not the ~40 ms
each that Nagle's algorithm plus the client's delayed ACK would add when headers and body
leave in separate writes (which made every controller call, and every conflict retry
window, forty times longer than it should be).
"""

from __future__ import annotations

import http.client
import time

from kubelite import LocalApiServer

REQUESTS = 20
BUDGET_SECONDS = 0.4  # 20 ms a request on average; with Nagle on it is 40+ ms each


def test_keep_alive_requests_are_not_delayed(apiserver: LocalApiServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", apiserver.port, timeout=5)
    try:
        connection.request("GET", "/api/v1/namespaces/default")
        connection.getresponse().read()
        started = time.perf_counter()
        for _ in range(REQUESTS):
            connection.request("GET", "/api/v1/namespaces/default")
            response = connection.getresponse()
            assert response.status == 200
            response.read()
        elapsed = time.perf_counter() - started
    finally:
        connection.close()
    assert elapsed < BUDGET_SECONDS, f"{REQUESTS} requests took {elapsed * 1000:.0f} ms"
