"""What Envoy itself says about the demo's traffic: applied weights and per-version counts.

The demo reports traffic as the data plane counted it, not as the controller intended it:
the weights are read back from Envoy's route configuration (``/config_dump``, routes only)
and the requests from each version's cluster counters (``upstream_rq_total`` and
``upstream_rq_5xx`` in ``/stats``). A ``Reading`` holds both, taken within a millisecond;
``Reading.between`` gives the requests each version served between two readings.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
import urllib.parse
from collections.abc import Mapping

from rollout_local.processes import envoy_config
from rollout_local.processes.envoy_proxy import EnvoyProxy

__all__ = ["EnvoyView", "Reading", "TrafficDelta"]

_ROUTES_DUMP = "/config_dump?resource=dynamic_route_configs"


@dataclasses.dataclass(frozen=True)
class TrafficDelta:
    """Requests (and 5xx answers) per version over an interval."""

    requests: Mapping[str, int]
    errors: Mapping[str, int]

    @property
    def total(self) -> int:
        return sum(self.requests.values())

    def share(self, version: str) -> float | None:
        """Percentage of the interval's requests that ``version`` served."""
        total = self.total
        return 100.0 * self.requests.get(version, 0) / total if total else None

    def error_rate(self, version: str) -> float | None:
        served = self.requests.get(version, 0)
        return 100.0 * self.errors.get(version, 0) / served if served else None


@dataclasses.dataclass(frozen=True)
class Reading:
    """Envoy's weights and cumulative counters per version at one moment."""

    at: float
    weights: Mapping[str, int]
    requests: Mapping[str, int]
    errors: Mapping[str, int]
    settled: bool = True
    """The weights did not change while the counters were read."""

    def between(self, earlier: Reading) -> TrafficDelta:
        """What each version served since ``earlier`` (a restarted counter counts from 0)."""

        def delta(now: Mapping[str, int], before: Mapping[str, int]) -> dict[str, int]:
            result: dict[str, int] = {}
            for version, value in now.items():
                previous = before.get(version, 0)
                result[version] = value - previous if value >= previous else value
            return result

        return TrafficDelta(
            requests=delta(self.requests, earlier.requests),
            errors=delta(self.errors, earlier.errors),
        )


class EnvoyView:
    """Reads one route's weights and one host's per-version counters from Envoy's admin API."""

    def __init__(self, proxy: EnvoyProxy, *, host: str, route: str = "primary") -> None:
        self._proxy = proxy
        self._host = host
        self._route = route
        pattern = (
            r"^cluster\.outbound\|[0-9]+\|[^|]+\|" + re.escape(host) + r"\.upstream_rq_(total|5xx)$"
        )
        self._stats_query = "/stats?filter=" + urllib.parse.quote(pattern)

    def read(self) -> Reading:
        """Weights, then counters, then weights again: a reading taken while the weights
        changed carries the newer weights and is not ``settled``."""
        before = self.weights()
        requests, errors = self.counters()
        after = self.weights()
        return Reading(
            at=time.time(),
            weights=after,
            requests=requests,
            errors=errors,
            settled=before == after,
        )

    def weights(self) -> dict[str, int]:
        """Version -> weight Envoy applies on the route (a lone cluster weighs 100)."""
        dump = json.loads(self._proxy.admin_get(_ROUTES_DUMP))
        for config in dump.get("configs", []):
            route_config = config.get("route_config", {})
            for virtual_host in route_config.get("virtual_hosts", []):
                for route in virtual_host.get("routes", []):
                    if route.get("name") != self._route:
                        continue
                    action = route.get("route", {})
                    if "weighted_clusters" in action:
                        entries = action["weighted_clusters"].get("clusters", [])
                        pairs = [(e["name"], int(e.get("weight", 0))) for e in entries]
                    elif "cluster" in action:
                        pairs = [(action["cluster"], 100)]
                    else:
                        pairs = []
                    return self._by_version(pairs)
        return {}

    def _by_version(self, pairs: list[tuple[str, int]]) -> dict[str, int]:
        weights: dict[str, int] = {}
        for name, weight in pairs:
            parsed = envoy_config.parse_cluster_name(name)
            if parsed is not None and parsed[2] == self._host:
                weights[parsed[1]] = weight
        return weights

    def counters(self) -> tuple[dict[str, int], dict[str, int]]:
        """(requests, 5xx answers) per version, cumulative since Envoy started."""
        requests: dict[str, int] = {}
        errors: dict[str, int] = {}
        for line in self._proxy.admin_get(self._stats_query).splitlines():
            name, separator, value = line.partition(": ")
            if not separator or not value.strip().isdigit():
                continue
            cluster, _, stat = name.removeprefix("cluster.").rpartition(".")
            parsed = envoy_config.parse_cluster_name(cluster)
            if parsed is None:
                continue
            target = requests if stat == "upstream_rq_total" else errors
            target[parsed[1]] = target.get(parsed[1], 0) + int(value)
        return requests, errors
