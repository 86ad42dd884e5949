"""The Prometheus metrics provider (``rollout.ports.MetricsProvider``), on prometheus-api-client.

The only module that imports ``prometheus_api_client``. It runs instant queries (and the
range queries of the analysis' look-back) with a timeout, supports bearer-token or basic
authentication and TLS options (a CA bundle, or skipping verification), and translates
every third-party exception into the errors of ``rollout.metrics.errors``: the caller never
sees a ``requests`` or client exception, and a refused query carries Prometheus' own error
text.

Settings come from arguments or from the environment:

==================================== =============================================
``ROLLOUT_PROMETHEUS_URL``           base URL, e.g. ``https://prometheus.monitoring:9090``
``ROLLOUT_PROMETHEUS_BEARER_TOKEN``  a bearer token (or ``..._BEARER_TOKEN_FILE``, a path)
``ROLLOUT_PROMETHEUS_USERNAME``      basic-auth user (with ``..._PASSWORD``)
``ROLLOUT_PROMETHEUS_CA_FILE``       CA bundle to verify the server's certificate
``ROLLOUT_PROMETHEUS_INSECURE_SKIP_VERIFY``  ``true`` to skip certificate checks
==================================== =============================================
Instant and range queries go as a form body (POST, which Prometheus' API takes as it takes
GET): a batch query names every workload it asks for.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import math
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import orjson
import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from rollout.errors import MetricsError
from rollout.metrics import errors
from rollout.ports import DEFAULT_QUERY_TIMEOUT, Series

__all__ = ["ENV_PREFIX", "PrometheusProvider", "PrometheusSettings"]

ENV_PREFIX = "ROLLOUT_PROMETHEUS_"
_STATUS = re.compile(r"HTTP Status Code (\d+) \((.*)\)\s*$", re.DOTALL)
_TRUE = {"1", "true", "yes", "on"}
_URL_IN_TEXT = re.compile(r"with url: \S+")


def single_value(series: tuple[Series, ...], *, query: str) -> float:
    """The one finite value of ``series``; raise NoData, SeveralSeries or NotANumber."""
    if not series:
        raise errors.NoData(f"no data: the query returned an empty result: {query}")
    if len(series) > 1:
        keys = "; ".join(s.key or "{}" for s in series[:3])
        raise errors.SeveralSeries(
            f"expected one series, got {len(series)} ({keys}); aggregate with sum() or "
            f"another operator: {query}",
            count=len(series),
        )
    value = series[0].value
    if not math.isfinite(value):
        raise errors.NotANumber(f"the query returned {value}: {query}")
    return value


@dataclasses.dataclass(frozen=True)
class PrometheusSettings:
    """How to reach Prometheus. ``repr`` hides the secrets."""

    url: str = "http://127.0.0.1:9090"
    bearer_token: str | None = dataclasses.field(default=None, repr=False)
    username: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    ca_file: str | None = None
    insecure_skip_verify: bool = False

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **overrides: Any
    ) -> PrometheusSettings:
        """Settings from ``ROLLOUT_PROMETHEUS_*`` variables; keyword overrides win."""
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(ENV_PREFIX + name)
            return value if value else None

        token = get("BEARER_TOKEN")
        token_file = get("BEARER_TOKEN_FILE")
        if token is None and token_file is not None:
            try:
                token = Path(token_file).read_text().strip()
            except OSError as error:
                message = f"cannot read the bearer token file {token_file}: {error}"
                raise MetricsError(message) from None
        values: dict[str, Any] = {
            "url": get("URL") or cls.url,
            "bearer_token": token,
            "username": get("USERNAME"),
            "password": get("PASSWORD"),
            "ca_file": get("CA_FILE"),
            "insecure_skip_verify": (get("INSECURE_SKIP_VERIFY") or "").lower() in _TRUE,
        }
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls(**values)


POOL_SIZE = 64
"""Connections kept open to Prometheus (as to the API server: ``kubeapi.client.POOL_SIZE``)."""


class PrometheusProvider:
    """``MetricsProvider`` for Prometheus' HTTP API (instant queries, and range queries for
    the analysis' look-back)."""

    def __init__(self, settings: PrometheusSettings | None = None) -> None:
        self.settings = settings or PrometheusSettings.from_env()
        if self.settings.bearer_token and self.settings.username:
            raise MetricsError("give a bearer token or basic auth, not both")
        session = requests.Session()
        if self.settings.insecure_skip_verify:
            session.verify = False
        elif self.settings.ca_file:
            session.verify = self.settings.ca_file
        headers = (
            {"Authorization": f"Bearer {self.settings.bearer_token}"}
            if self.settings.bearer_token
            else None
        )
        auth = (
            (self.settings.username, self.settings.password or "")
            if self.settings.username
            else None
        )
        # One quick retry on connection errors only: the tick comes back soon anyway.
        retry = Retry(total=1, connect=1, read=0, status=0, other=0, backoff_factor=0.1)
        try:
            self._client = PrometheusConnect(
                url=self.settings.url.rstrip("/"),
                headers=headers,
                disable_ssl=self.settings.insecure_skip_verify,
                retry=retry,
                auth=auth,
                session=session,
            )
        except (TypeError, ValueError) as error:
            raise MetricsError(f"bad Prometheus settings: {error}") from None
        # the client's adapter keeps 10 connections; the workers (32 by default), the batch
        # renewals and widenings ask at once, and every request past 10 opened a connection
        # and threw it away
        session.mount(
            self.settings.url.rstrip("/"), HTTPAdapter(max_retries=retry, pool_maxsize=POOL_SIZE)
        )
        self._session, self._headers, self._auth = session, headers, auth

    @property
    def url(self) -> str:
        return self.settings.url

    def close(self) -> None:
        self._client.close()

    def query(
        self, promql: str, *, at: float | None = None, timeout: float = DEFAULT_QUERY_TIMEOUT
    ) -> float:
        return single_value(self.query_series(promql, at=at, timeout=timeout), query=promql)

    def query_series(
        self, promql: str, *, at: float | None = None, timeout: float = DEFAULT_QUERY_TIMEOUT
    ) -> tuple[Series, ...]:
        return tuple(
            Series(labels=tuple(sorted(labels.items())), value=value)
            for labels, value in self.query_vector(promql, at=at, timeout=timeout)
        )

    def query_vector(
        self, promql: str, *, at: float | None = None, timeout: float = DEFAULT_QUERY_TIMEOUT
    ) -> list[tuple[dict[str, str], float]]:
        """``query_series`` before its labels are sorted into tuples: each series' labels as
        Prometheus sent them, and its value. For a caller that regroups thousands of series
        (``rollout.metrics.batch``), one pass over them instead of two."""
        params: dict[str, str] = {"timeout": f"{max(round(timeout * 1000), 1)}ms"}
        if at is not None:
            params["time"] = f"{at:.3f}"
        form = {"query": promql, **params}
        result = self._ask(lambda: self._posted("query", form, timeout), promql, timeout)
        return _parse_result(result, promql)

    def _posted(self, endpoint: str, form: dict[str, str], timeout: float) -> Any:
        """``/api/v1/<endpoint>`` with its parameters in a form body (Prometheus' API takes
        both), as ``PrometheusConnect.custom_query`` and ``custom_query_range`` ask it but
        for where the query goes: they put it in the URL, and a batch query (instant, or a
        look-back's range) naming a thousand workloads is a URL of tens of kilobytes, past
        what proxies in front of Prometheus commonly accept, and one the HTTP stack
        re-encodes byte by byte in Python. The answer and its errors are read as the client
        reads them."""
        response = self._session.post(
            f"{self._client.url}/api/v1/{endpoint}",
            data=form,
            verify=self._session.verify,
            headers=self._headers,
            auth=self._auth,
            cert=self._session.cert,
            timeout=timeout,
        )
        if response.status_code != 200:
            raise PrometheusApiClientException(
                f"HTTP Status Code {response.status_code} ({response.content!r})"
            )
        # decoded from the bytes with orjson: a batch answer names every workload (megabytes
        # a minute at a thousand rollouts), and the standard decoder was a tenth of the
        # controller's time there
        return orjson.loads(response.content)["data"]["result"]

    def query_range(
        self,
        promql: str,
        *,
        start: float,
        end: float,
        step: float,
        timeout: float = DEFAULT_QUERY_TIMEOUT,
    ) -> list[tuple[dict[str, str], tuple[tuple[float, float], ...]]]:
        """A range query (``/api/v1/query_range``): every series with its ``(time, value)``
        at each ``step`` from ``start`` to ``end`` (Unix seconds) where it had a sample."""
        form = {  # start and end in whole seconds, as ``custom_query_range`` sends them
            "query": promql,
            "start": str(round(start)),
            "end": str(round(end)),
            "step": f"{step:g}",
            "timeout": f"{max(round(timeout * 1000), 1)}ms",
        }
        result = self._ask(lambda: self._posted("query_range", form, timeout), promql, timeout)
        return _parse_matrix(result, promql)

    def _ask(self, call: Callable[[], Any], promql: str, timeout: float) -> Any:
        """One request to the API, every third-party exception translated at this edge."""
        try:
            return call()
        except PrometheusApiClientException as error:
            raise _from_status(str(error), promql) from None
        except requests.exceptions.Timeout:
            raise errors.Unreachable(
                f"Prometheus at {self.url} did not answer within {timeout:g}s"
            ) from None
        except (requests.exceptions.ConnectionError, requests.exceptions.RetryError) as error:
            raise errors.Unreachable(
                f"Prometheus at {self.url} is unreachable: {_connection_cause(error)}"
            ) from None
        except requests.exceptions.RequestException as error:
            raise errors.Unreachable(
                f"request to {self.url} failed: {_connection_cause(error)}"
            ) from None
        except (ValueError, KeyError, TypeError) as error:
            raise errors.Unreachable(
                f"{self.url} did not answer like Prometheus' API: {_short(error)}"
            ) from None
        except Exception as error:  # the edge: nothing third-party gets through
            raise MetricsError(f"query failed: {type(error).__name__}: {_short(error)}") from None

    def is_online(self) -> bool:
        try:
            self.query_series("vector(1)", timeout=5.0)
        except MetricsError:
            return False
        return True


def _short(error: BaseException | str, limit: int = 300) -> str:
    text = str(error)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _connection_cause(error: BaseException) -> str:
    """Why a connection failed, in a few words ("Connection refused").

    Never the text of the client's exception itself: it holds the request URL, with the
    whole PromQL query URL-encoded in it, which says nothing about the cause and makes a
    reading of one policy show another policy's query.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror:
            return str(current.strerror)
        reason = getattr(current, "reason", None)  # urllib3's MaxRetryError
        inner = next((arg for arg in current.args if isinstance(arg, BaseException)), None)
        nested = reason if isinstance(reason, BaseException) else inner
        current = nested or current.__cause__ or current.__context__
    last = _short(_URL_IN_TEXT.sub("", str(error)), 200)
    return last.rsplit("): ", 1)[-1] or type(error).__name__


def _from_status(text: str, promql: str) -> MetricsError:
    """Turn the client's ``HTTP Status Code 400 (b'{...}')`` into one of our errors."""
    match = _STATUS.search(text)
    if match is None:
        return MetricsError(f"query failed: {_short(text)}")
    status = int(match.group(1))
    body: Any = match.group(2)
    try:
        raw = ast.literal_eval(body)
        body = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    except (ValueError, SyntaxError):
        pass
    server_message = str(body).strip()
    try:
        decoded = json.loads(server_message)
        if isinstance(decoded, dict) and decoded.get("error"):
            server_message = str(decoded["error"])
    except ValueError:
        pass
    server_message = _short(server_message, 500)
    if status in (400, 422):
        return errors.BadQuery(
            f"Prometheus refused the query: {server_message}",
            server_message=server_message,
            query=promql,
        )
    if status in (401, 403):
        return errors.Unreachable(
            f"Prometheus refused the credentials (HTTP {status}): {server_message}"
        )
    return errors.Unreachable(f"Prometheus answered HTTP {status}: {server_message}")


def _parse_result(result: Any, promql: str) -> list[tuple[dict[str, str], float]]:
    """An instant vector, a scalar or a string result as (labels, value) pairs; refuse range
    vectors."""
    if isinstance(result, list) and len(result) == 2 and not isinstance(result[0], dict):
        return [({}, _number(result[1], promql))]
    if not isinstance(result, list):
        raise errors.BadQuery(f"unexpected result shape {type(result).__name__}", query=promql)
    try:  # Prometheus' own shape, in one pass (a batch answer holds thousands of series)
        found = [
            (item["metric"], value if (value := float(item["value"][1])) == value else math.nan)
            for item in result
        ]  # NaN as the one ``math.nan``, as ``_number`` gives it: equal to itself in a state
        if all([type(v) is str for labels, _ in found for v in labels.values()]):
            return found
    except (AttributeError, KeyError, IndexError, TypeError, ValueError):
        pass  # another shape: the careful reading below names what is wrong with it
    series: list[tuple[dict[str, str], float]] = []
    for item in result:
        if not isinstance(item, dict):
            raise errors.BadQuery("unexpected result item", query=promql)
        if "values" in item and "value" not in item:
            raise errors.BadQuery(
                "the query returned a range vector; an instant vector is needed "
                "(drop the [range] selector or wrap it in a function)",
                query=promql,
            )
        metric = item.get("metric") or {}
        if not all(type(value) is str for value in metric.values()):
            metric = {str(k): str(v) for k, v in metric.items()}
        series.append((metric, _number(item["value"][1], promql)))
    return series


def _parse_matrix(
    result: Any, promql: str
) -> list[tuple[dict[str, str], tuple[tuple[float, float], ...]]]:
    """A range query's matrix as (labels, ((time, value), ...)) pairs."""
    if not isinstance(result, list):
        raise errors.BadQuery(f"unexpected result shape {type(result).__name__}", query=promql)
    series = []
    for item in result:
        if not isinstance(item, dict) or not isinstance(item.get("values"), list):
            raise errors.BadQuery("unexpected range result item", query=promql)
        metric = {str(k): str(v) for k, v in (item.get("metric") or {}).items()}
        try:
            points = tuple((float(time), _number(value, promql)) for time, value in item["values"])
        except (TypeError, ValueError):
            raise errors.BadQuery("unexpected range result point", query=promql) from None
        series.append((metric, points))
    return series


def _number(text: Any, promql: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise errors.BadQuery(f"the query returned {text!r}, not a number", query=promql) from None
    return value if not math.isnan(value) else math.nan
