"""Demo services: seeded outcomes, live reconfiguration, counts, keep-alive without Nagle.

Inputs are a ``Behaviour`` (error rate, latency) and plain HTTP requests over one
keep-alive connection; outputs are the statuses, bodies and timings the server answers and
the counts it keeps.
"""

from __future__ import annotations

import http.client
import json
import random
import time

import pytest

from rollout_local.demo.service import Behaviour, DemoService


def get(connection: http.client.HTTPConnection) -> tuple[int, dict[str, object], float]:
    started = time.monotonic()
    connection.request("GET", "/")
    response = connection.getresponse()
    body = json.loads(response.read())
    assert response.getheader("Content-Length") is not None
    return response.status, body, time.monotonic() - started


def test_a_seed_fixes_the_sequence_of_outcomes() -> None:
    behaviour = Behaviour(error_rate=0.3, latency_median_ms=20, latency_sigma=0.5)

    def statuses(seed: int) -> list[int]:
        with DemoService(name="checkout", version="v2", seed=seed, behaviour=behaviour) as svc:
            return [svc.draw()[0] for _ in range(100)]

    assert statuses(7) == statuses(7)
    assert statuses(7) != statuses(8)
    generator = random.Random(1)
    draws = [behaviour.draw(generator) for _ in range(100)]
    assert {status for status, _ in draws} == {200, 500}
    assert len({latency for _, latency in draws}) > 90  # lognormal spread


def test_latency_is_capped_and_bad_settings_are_refused() -> None:
    capped = Behaviour(latency_median_ms=50, latency_sigma=3.0, latency_max_ms=60)
    generator = random.Random(1)
    assert max(capped.draw(generator)[1] for _ in range(200)) <= 0.060
    with pytest.raises(ValueError, match="error_rate"):
        Behaviour(error_rate=1.5)
    with pytest.raises(ValueError, match="latency_median_ms"):
        Behaviour(latency_median_ms=-1)


def test_serves_keep_alive_counts_by_status_and_reconfigures_live() -> None:
    with DemoService(name="checkout", version="v2", seed=3) as service:
        assert service.workload == "checkout-v2"
        connection = http.client.HTTPConnection("127.0.0.1", service.port, timeout=5)
        try:
            statuses = [get(connection)[0] for _ in range(50)]
            assert statuses == [200] * 50
            status, body, _ = get(connection)
            assert body == {"service": "checkout", "version": "v2", "status": 200}

            service.configure(Behaviour(error_rate=1.0, latency_median_ms=50))
            status, body, elapsed = get(connection)
            assert status == 500
            assert body["status"] == 500
            assert elapsed >= 0.045
        finally:
            connection.close()
        assert service.counts() == {200: 51, 500: 1}
        assert service.served == 52
        service.reset_counts()
        assert service.served == 0


def test_small_requests_on_one_connection_are_not_delayed_by_nagle() -> None:
    with DemoService(name="checkout", version="v1") as service:
        connection = http.client.HTTPConnection("127.0.0.1", service.port, timeout=5)
        try:
            started = time.monotonic()
            for _ in range(200):
                get(connection)
            elapsed = time.monotonic() - started
        finally:
            connection.close()
    # With Nagle's algorithm and delayed ACKs each exchange would take ~40 ms (8 s in all).
    assert elapsed < 2.0
    assert service.served == 200
