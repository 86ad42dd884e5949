"""The Prometheus provider against a real Prometheus: each distinct outcome of a query.

Inputs are PromQL queries over the test exporter's series (and a closed port, and a small
HTTP server that checks credentials); outputs are numbers, series, or the project's own
errors carrying Prometheus' error text.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import ClassVar

import pytest

from rollout.metrics import errors
from rollout.metrics.prometheus import PrometheusProvider, PrometheusSettings
from rollout_local.processes.prometheus_server import free_port
from tests.metrics.exporter import IstioExporter
from tests.metrics.stack import AnswerHandler, serving, wait_for_scrape

pytestmark = pytest.mark.slow

SELECTOR = 'istio_requests_total{destination_workload="provider-w"}'


@pytest.fixture(scope="module", autouse=True)
def traffic(exporter: IstioExporter, provider: PrometheusProvider) -> None:
    exporter.record("provider-w", requests=40)
    exporter.record("provider-w", requests=2, code="503")
    wait_for_scrape(provider, f"sum({SELECTOR})", 42)


def test_a_number(provider: PrometheusProvider) -> None:
    assert provider.query(f"sum({SELECTOR})") == 42.0
    assert provider.query("scalar(vector(3))") == 3.0
    assert provider.is_online()


def test_several_series_are_returned_with_labels_or_refused_as_one_number(
    provider: PrometheusProvider,
) -> None:
    series = provider.query_series(f"sum by (response_code) ({SELECTOR})")
    assert sorted((s.key, s.value) for s in series) == [
        ("response_code=200", 40.0),
        ("response_code=503", 2.0),
    ]
    with pytest.raises(errors.SeveralSeries, match="expected one series, got 2") as caught:
        provider.query(f"sum by (response_code) ({SELECTOR})")
    assert caught.value.count == 2


def test_a_bad_query_carries_prometheus_own_error_text(provider: PrometheusProvider) -> None:
    with pytest.raises(errors.BadQuery) as caught:
        provider.query("sum(rate(istio_requests_total[1m])")
    assert "parse error" in caught.value.server_message
    assert "parse error" in str(caught.value)
    with pytest.raises(errors.BadQuery, match="range vector"):
        provider.query_series(f"{SELECTOR}[1m]")


def test_no_data_and_not_a_number(provider: PrometheusProvider) -> None:
    assert provider.query_series('sum(istio_requests_total{destination_workload="nobody"})') == ()
    with pytest.raises(errors.NoData):
        provider.query('sum(istio_requests_total{destination_workload="nobody"})')
    with pytest.raises(errors.NotANumber):
        provider.query("0 / 0")


def test_unreachable_prometheus() -> None:
    closed = PrometheusProvider(PrometheusSettings(url=f"http://127.0.0.1:{free_port()}"))
    with pytest.raises(errors.Unreachable, match="unreachable"):
        closed.query("1", timeout=2.0)
    assert not closed.is_online()


def test_unreachable_says_why_in_a_few_words_without_the_query() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    closed = PrometheusProvider(PrometheusSettings(url=url))
    with pytest.raises(errors.Unreachable) as raised:
        closed.query('sum(rate(istio_requests_total{response_code=~"5.."}[1m]))', timeout=2.0)
    assert str(raised.value) == f"Prometheus at {url} is unreachable: Connection refused"


class _AuthChecker(AnswerHandler):
    seen: ClassVar[list[str | None]] = []

    def answer(self) -> tuple[int, bytes]:
        header = self.headers.get("Authorization")
        type(self).seen.append(header)
        if header not in ("Bearer s3cret", "Basic dXNlcjpwdw=="):
            return 401, b'{"status":"error","error":"unauthorized"}'
        result = {"resultType": "vector", "result": [{"metric": {}, "value": [0, "7"]}]}
        return 200, json.dumps({"status": "success", "data": result}).encode()


@pytest.fixture
def auth_server() -> Iterator[str]:
    with serving(_AuthChecker) as url:
        yield url


def test_bearer_token_and_basic_auth_from_settings_and_environment(auth_server: str) -> None:
    env = {"ROLLOUT_PROMETHEUS_URL": auth_server, "ROLLOUT_PROMETHEUS_BEARER_TOKEN": "s3cret"}
    settings = PrometheusSettings.from_env(env)
    assert "s3cret" not in repr(settings)
    assert PrometheusProvider(settings).query("up") == 7.0
    basic = PrometheusSettings(url=auth_server, username="user", password="pw")
    assert PrometheusProvider(basic).query("up") == 7.0
    with pytest.raises(errors.Unreachable, match="refused the credentials"):
        PrometheusProvider(PrometheusSettings(url=auth_server)).query("up")
    assert _AuthChecker.seen[-3:] == ["Bearer s3cret", "Basic dXNlcjpwdw==", None]


def test_tls_settings_come_from_the_environment() -> None:
    env = {
        "ROLLOUT_PROMETHEUS_URL": "https://prometheus.example:9090",
        "ROLLOUT_PROMETHEUS_CA_FILE": "/etc/ssl/ca.pem",
        "ROLLOUT_PROMETHEUS_INSECURE_SKIP_VERIFY": "true",
    }
    settings = PrometheusSettings.from_env(env)
    assert settings.ca_file == "/etc/ssl/ca.pem"
    assert settings.insecure_skip_verify
    assert PrometheusSettings.from_env({}).url == "http://127.0.0.1:9090"
