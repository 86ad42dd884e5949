"""The open-loop load generator: offered rate, slow backends, backlog, stopping, errors.

Inputs are a target rate, a pool size and demo services with a given latency; outputs are
the counts the generator reports (by status, errors, drops), compared with what the demo
service served and with the wall-clock time the run took.
"""

from __future__ import annotations

import socket
import time

import pytest

from rollout_local.demo.service import Behaviour, DemoService
from rollout_local.loadgen import LoadGenerator

pytestmark = pytest.mark.slow


def test_the_offered_rate_is_kept_for_the_duration(stable: DemoService) -> None:
    report = LoadGenerator(url=stable.url, rate=200).run(duration=1.0)
    assert 190 <= report.scheduled <= 201
    assert report.by_status == {200: report.scheduled}
    assert stable.served == report.scheduled
    assert report.errors == report.dropped == 0
    assert 0.95 <= report.elapsed < 1.5


def test_a_request_count_ends_the_run(stable: DemoService) -> None:
    report = LoadGenerator(url=stable.url, rate=2_000).run(requests=500, duration=10)
    assert report.completed == 500 == stable.served
    assert report.count(status_class=2) == 500
    assert report.elapsed < 10  # the count ended the run, not the duration


def test_a_slow_backend_does_not_lower_the_offered_rate(stable: DemoService) -> None:
    stable.configure(Behaviour(latency_median_ms=100))
    report = LoadGenerator(url=stable.url, rate=100, connections=20).run(duration=1.5)
    # Closed-loop on one connection this would be 10 requests per second.
    assert report.completed >= 140
    assert report.dropped == 0
    assert report.mean_latency >= 0.1


def test_a_full_backlog_drops_requests_and_the_run_stays_bounded(stable: DemoService) -> None:
    stable.configure(Behaviour(latency_median_ms=300))
    started = time.monotonic()
    report = LoadGenerator(url=stable.url, rate=200, connections=2, max_backlog=5).run(duration=1.0)
    assert time.monotonic() - started < 4.0
    assert report.dropped > 100
    assert report.scheduled == report.dropped + report.sent
    assert report.completed == stable.served


def test_stop_ends_a_long_run_at_once_and_rate_changes_live(stable: DemoService) -> None:
    load = LoadGenerator(url=stable.url, rate=50).start(duration=60)
    time.sleep(0.5)
    load.set_rate(400)
    time.sleep(0.5)
    started = time.monotonic()
    report = load.stop()
    assert time.monotonic() - started < 1.0
    assert not load.running
    assert 180 <= report.completed <= 260  # about 25 at 50/s, then about 200 at 400/s
    with pytest.raises(ValueError):
        load.set_rate(0)


def test_connection_failures_are_counted_as_errors() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    report = LoadGenerator(url=f"http://127.0.0.1:{port}", rate=100).run(requests=20, duration=5)
    assert report.errors == 20
    assert report.by_status == {}


def test_a_run_is_refused_without_bounds_or_with_a_bad_url() -> None:
    with pytest.raises(ValueError):
        LoadGenerator(url="ftp://127.0.0.1/", rate=10)
    with pytest.raises(ValueError):
        LoadGenerator(url="http://127.0.0.1:1/", rate=0)
    with pytest.raises(ValueError):
        LoadGenerator(url="http://127.0.0.1:1/", rate=10).start(duration=0)


def test_every_sent_request_is_answered_failed_or_in_flight(stable: DemoService) -> None:
    stable.configure(Behaviour(latency_median_ms=200))
    load = LoadGenerator(url=stable.url, rate=100, connections=20).start(duration=30)
    time.sleep(1.0)
    during = load.report()
    assert during.in_flight > 0
    assert during.sent == during.completed + during.errors + during.in_flight
    after = load.stop()
    assert after.in_flight == 0
    assert after.sent == after.completed + after.errors == sum(after.by_status.values())
