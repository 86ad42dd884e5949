"""Prometheus recording rules that present Envoy's statistics as Istio's standard metrics.

The shipped policies (``policies/*.yaml``) query ``istio_requests_total`` and
``istio_request_duration_milliseconds_*`` with ``reporter="source"`` and the
``destination_workload`` / ``destination_workload_namespace`` labels, as a real Istio mesh
exposes them. The embedded stack runs a plain Envoy, whose ``/stats/prometheus`` gives the
same facts under other names:

- ``envoy_cluster_upstream_rq{envoy_cluster_name, envoy_response_code}`` (counter),
- ``envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name, le}`` with ``_sum``/``_count``
  (milliseconds, buckets 0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, ...).

The cluster name carries host and version (``outbound|80|v2|checkout.demo.svc.cluster.local``,
see ``rollout_local.processes.envoy_config``). For each configured service the rules select its
clusters by host, extract the version with ``label_replace``, derive the workload name from
the Deployment template (``{service}-{version}``, as ``rollout.spec`` defaults it), add the
constant Istio labels, and drop the Envoy labels with ``sum without`` so that ``instance`` and
``job`` survive (a restart of one Envoy is then a counter reset of its own series). New
versions need no new rules: any subset of the host is picked up.

Example::

    rules = rules_yaml([IstioService(name="checkout", namespace="demo")], interval=1.0)
    PrometheusServer(scrape_configs=[envoy_scrape_config(proxy.admin_url)],
                     rule_files={"istio": rules})
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

__all__ = [
    "DEFAULT_GROUP",
    "IstioService",
    "envoy_scrape_config",
    "recording_rules",
    "rules_yaml",
]

DEFAULT_GROUP = "istio-standard-metrics-from-envoy"

_REQUESTS = ("istio_requests_total", "envoy_cluster_upstream_rq")
_DURATION = (
    ("istio_request_duration_milliseconds_bucket", "envoy_cluster_upstream_rq_time_bucket"),
    ("istio_request_duration_milliseconds_sum", "envoy_cluster_upstream_rq_time_sum"),
    ("istio_request_duration_milliseconds_count", "envoy_cluster_upstream_rq_time_count"),
)


@dataclass(frozen=True)
class IstioService:
    """One service whose Envoy clusters should be reported as Istio's metrics.

    ``workload`` is the Deployment name template; ``{service}`` and ``{version}`` are
    replaced, ``{version}`` being the DestinationRule subset in the cluster name.
    """

    name: str
    namespace: str
    host: str | None = None
    workload: str = "{service}-{version}"

    def __post_init__(self) -> None:
        if "{version}" not in self.workload:
            raise ValueError(f"the workload template {self.workload!r} must contain {{version}}")
        if "`" in self.qualified_host:
            raise ValueError(f"invalid host {self.qualified_host!r}")

    @property
    def qualified_host(self) -> str:
        return self.host or f"{self.name}.{self.namespace}.svc.cluster.local"

    @property
    def cluster_pattern(self) -> str:
        """An RE2 pattern matching this host's subset clusters; group 1 is the version."""
        return r"outbound\|[0-9]+\|([^|]+)\|" + re.escape(self.qualified_host)

    @property
    def workload_replacement(self) -> str:
        """The ``label_replace`` replacement giving the workload, e.g. ``checkout-${1}``."""
        literal = self.workload.replace("{service}", self.name).replace("$", "$$")
        return literal.replace("{version}", "${1}")

    def constant_labels(self) -> dict[str, str]:
        """The Istio labels that do not depend on the version or the response."""
        return {
            # Envoy's upstream statistics are the calling proxy's view: Istio's "source"
            "reporter": "source",
            "destination_service": self.qualified_host,
            "destination_service_name": self.name,
            "destination_service_namespace": self.namespace,
            "destination_workload_namespace": self.namespace,
            "destination_canonical_service": self.name,
            "request_protocol": "http",
        }


def _quoted(text: str) -> str:
    """A PromQL string literal: raw (backquoted), so regex backslashes need no escaping."""
    return f"`{text}`"


def _with_version_labels(selector: str, service: IstioService) -> str:
    """Wrap a selector so each series gains ``destination_version``/``_workload`` labels."""
    expression = (
        f'label_replace({selector}, "destination_version", "${{1}}", '
        f'"envoy_cluster_name", {_quoted(service.cluster_pattern)})'
    )
    for label, replacement in (
        ("destination_canonical_revision", "${1}"),
        ("destination_workload", service.workload_replacement),
    ):
        expression = (
            f'label_replace({expression}, "{label}", {_quoted(replacement)}, '
            '"destination_version", "(.+)")'
        )
    return expression


def _selector(metric: str, service: IstioService, *extra: str) -> str:
    matchers = [f"envoy_cluster_name=~{_quoted(service.cluster_pattern)}", *extra]
    return f"{metric}{{{', '.join(matchers)}}}"


def _service_rules(service: IstioService) -> list[dict[str, Any]]:
    labels = service.constant_labels()
    requests = _with_version_labels(
        _selector(_REQUESTS[1], service, 'envoy_response_code!=""'), service
    )
    requests = (
        f'label_replace({requests}, "response_code", "${{1}}", "envoy_response_code", "(.*)")'
    )
    rules: list[dict[str, Any]] = [
        {
            "record": _REQUESTS[0],
            "expr": f"sum without (envoy_cluster_name, envoy_response_code) ({requests})",
            "labels": dict(labels),
        }
    ]
    for istio_name, envoy_name in _DURATION:
        expression = _with_version_labels(_selector(envoy_name, service), service)
        rules.append(
            {
                "record": istio_name,
                "expr": f"sum without (envoy_cluster_name) ({expression})",
                "labels": dict(labels),
            }
        )
    return rules


def recording_rules(
    services: Sequence[IstioService],
    *,
    interval: float | None = None,
    group: str = DEFAULT_GROUP,
) -> dict[str, Any]:
    """The rule file, as a dict: one group with four rules per service.

    ``interval`` (seconds) sets the group's evaluation interval; by default Prometheus's
    global ``evaluation_interval`` applies.
    """
    names = [(service.namespace, service.name) for service in services]
    if len(set(names)) != len(names):
        raise ValueError(f"a service is listed twice: {names}")
    rule_group: dict[str, Any] = {"name": group}
    if interval is not None:
        rule_group["interval"] = f"{max(1, round(interval * 1000))}ms"
    rule_group["rules"] = [rule for service in services for rule in _service_rules(service)]
    return {"groups": [rule_group]}


def rules_yaml(
    services: Sequence[IstioService],
    *,
    interval: float | None = None,
    group: str = DEFAULT_GROUP,
) -> str:
    """The rule file as YAML text, e.g. for ``PrometheusServer(rule_files={"istio": ...})``."""
    document = recording_rules(services, interval=interval, group=group)
    return yaml.safe_dump(document, sort_keys=False, width=1_000)


def envoy_scrape_config(admin_url: str, *, job_name: str = "envoy") -> dict[str, Any]:
    """A Prometheus scrape config for one Envoy's admin ``/stats/prometheus``."""
    parsed = urllib.parse.urlsplit(admin_url)
    if not parsed.hostname or not parsed.port:
        raise ValueError(f"an admin URL like http://127.0.0.1:9901 is needed, got {admin_url!r}")
    return {
        "job_name": job_name,
        "metrics_path": "/stats/prometheus",
        "static_configs": [{"targets": [f"{parsed.hostname}:{parsed.port}"]}],
    }
