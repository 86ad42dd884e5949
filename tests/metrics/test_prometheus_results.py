"""What the provider makes of each shape a query's answer can take, from a server that
answers what each test sets (Prometheus' own shapes, and some it never sends).

Inputs: the ``data`` of an answer. Outputs: the series read (labels as sent, values as
floats), or BadQuery naming what is wrong with the shape.
"""

from __future__ import annotations

import json
import math
import urllib.parse
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from rollout.metrics import errors
from rollout.metrics.prometheus import PrometheusProvider, PrometheusSettings
from tests.metrics.stack import AnswerHandler, serving


class _Answering(AnswerHandler):
    data: ClassVar[dict[str, Any]] = {}
    asked: ClassVar[list[tuple[str, str, str]]] = []

    def answer(self) -> tuple[int, bytes]:
        type(self).asked.append((self.command, self.path, self.form))
        return 200, json.dumps({"status": "success", "data": type(self).data}).encode()


@pytest.fixture(scope="module")
def provider() -> Iterator[PrometheusProvider]:
    with serving(_Answering) as url:
        yield PrometheusProvider(PrometheusSettings(url=url))


def answer(result_type: str, result: Any) -> None:
    _Answering.data = {"resultType": result_type, "result": result}


def test_a_vector_is_read_with_its_labels_as_sent(provider: PrometheusProvider) -> None:
    answer(
        "vector",
        [
            {"metric": {"pod": "a", "destination_workload": "w-v1"}, "value": [1.5, "7"]},
            {"metric": {}, "value": [1.5, "+Inf"]},
            {"metric": {"pod": "b"}, "value": [1.5, "NaN"]},
        ],
    )
    found = provider.query_vector("q")
    assert found[:2] == [({"pod": "a", "destination_workload": "w-v1"}, 7.0), ({}, math.inf)]
    # NaN is the one math.nan: a state holding it stays equal to itself (no write for it)
    assert found[2][0] == {"pod": "b"} and found[2][1] is math.nan


def test_the_query_goes_in_a_form_body_not_in_the_url(provider: PrometheusProvider) -> None:
    """A batch query names every workload: tens of kilobytes, too long for a URL."""
    answer("vector", [])
    _Answering.asked.clear()
    provider.query_vector('sum(x{w=~"a|b"})', at=12.5, timeout=3.0)
    [(command, path, form)] = _Answering.asked
    assert (command, path) == ("POST", "/api/v1/query")
    assert urllib.parse.parse_qs(form) == {
        "query": ['sum(x{w=~"a|b"})'],
        "time": ["12.500"],
        "timeout": ["3000ms"],
    }


def test_a_range_query_goes_in_a_form_body_too(provider: PrometheusProvider) -> None:
    """A look-back's batch range query names every workload as well."""
    answer("matrix", [{"metric": {"pod": "a"}, "values": [[60, "1"], [120, "3"]]}])
    _Answering.asked.clear()
    found = provider.query_range('sum(x{w=~"a|b"})', start=60.4, end=119.6, step=60, timeout=3.0)
    assert found == [({"pod": "a"}, ((60.0, 1.0), (120.0, 3.0)))]
    [(command, path, form)] = _Answering.asked
    assert (command, path) == ("POST", "/api/v1/query_range")
    assert urllib.parse.parse_qs(form) == {
        "query": ['sum(x{w=~"a|b"})'],
        "start": ["60"],
        "end": ["120"],
        "step": ["60"],
        "timeout": ["3000ms"],
    }


def test_shapes_prometheus_never_sends_are_read_carefully_or_refused(
    provider: PrometheusProvider,
) -> None:
    answer("vector", [{"value": [1, "2"]}, {"metric": {"code": 500}, "value": [1, "3"]}])
    assert provider.query_vector("q") == [({}, 2.0), ({"code": "500"}, 3.0)]
    answer("vector", [{"metric": None, "value": [1, "4"]}])
    assert provider.query_vector("q") == [({}, 4.0)]
    answer("matrix", [{"metric": {}, "values": [[1, "2"]]}])
    with pytest.raises(errors.BadQuery, match="range vector"):
        provider.query_vector("q")
    answer("vector", [{"metric": {}, "value": [1, "many"]}])
    with pytest.raises(errors.BadQuery, match="'many', not a number"):
        provider.query_vector("q")
    answer("vector", ["not an item"])
    with pytest.raises(errors.BadQuery, match="unexpected result item"):
        provider.query_vector("q")
    answer("scalar", [1, "5"])
    assert provider.query_vector("q") == [({}, 5.0)]
