"""Run the real Prometheus server on loopback, for the tests and the embedded demo stack.

The analysis must be exercised against the real query engine (``increase()`` extrapolation,
staleness, error texts), not a fake, so tests and ``rollout demo`` start Debian's
``/usr/bin/prometheus`` in the foreground as a child process. This module owns that process:

- it writes ``prometheus.yml`` from scrape configs given as plain dicts (exactly the YAML
  shape Prometheus documents), a global scrape/evaluation interval, and rule files given as
  ``name -> YAML text``;
- it starts ``prometheus --config.file=... --storage.tsdb.path=<tmp>
  --web.listen-address=127.0.0.1:<free port> --web.enable-lifecycle`` with stdout and stderr
  going to ``prometheus.log`` in its working directory, and returns once ``/-/ready`` answers;
- ``update(...)`` rewrites the configuration and ``reload()`` applies it through the
  lifecycle endpoint; ``wait_for_targets()`` waits until every scrape target is up;
- ``stop()`` terminates, then kills after a grace period, and always reaps the process.
  By default the child also gets ``PR_SET_PDEATHSIG`` so it dies with the process that
  started it, even when that process is killed outright. Linux delivers that signal when the
  *thread* that started the child exits, so start it from a long-lived thread (the main
  thread, a pytest fixture) or pass ``die_with_parent=False`` and rely on ``stop()``.

Example::

    with PrometheusServer(
        scrape_configs=[{"job_name": "app", "static_configs": [{"targets": ["127.0.0.1:8000"]}]}],
        scrape_interval=1.0,
    ) as prometheus:
        prometheus.wait_for_targets()
        print(prometheus.url)  # http://127.0.0.1:<port>
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from rollout.errors import RolloutError
from rollout_local.processes.server_process import ServerProcess

DEFAULT_BINARY = "/usr/bin/prometheus"

__all__ = ["DEFAULT_BINARY", "PrometheusServer", "PrometheusServerError", "free_port"]


class PrometheusServerError(RolloutError):
    """The local Prometheus could not be started, reloaded or reached; the log tail is included."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (another process may still take it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _prometheus_duration(seconds: float) -> str:
    """Prometheus accepts ``1500ms``; whole milliseconds are always a valid duration."""
    milliseconds = round(seconds * 1000)
    if milliseconds <= 0:
        raise ValueError(f"an interval must be positive, got {seconds}")
    return f"{milliseconds}ms"


class PrometheusServer(ServerProcess):
    """One Prometheus process on ``127.0.0.1`` with its own config, data and log.

    Nothing happens until ``start()`` (or entering the context manager). The working
    directory holds ``prometheus.yml``, ``rules/*.yml``, ``data/`` and ``prometheus.log``; it
    is a fresh temporary directory removed by ``stop()`` unless ``workdir`` is given.
    """

    name = "prometheus"
    error = PrometheusServerError
    log_name = "prometheus.log"

    def __init__(
        self,
        *,
        scrape_configs: Sequence[Mapping[str, Any]] = (),
        scrape_interval: float = 15.0,
        evaluation_interval: float | None = None,
        rule_files: Mapping[str, str] | None = None,
        binary: str | None = None,
        workdir: Path | None = None,
        port: int | None = None,
        extra_args: Sequence[str] = (),
        ready_timeout: float = 30.0,
        die_with_parent: bool = True,
    ) -> None:
        self._scrape_configs = [dict(config) for config in scrape_configs]
        self._scrape_interval = scrape_interval
        self._evaluation_interval = evaluation_interval or scrape_interval
        self._rule_files = dict(rule_files or {})
        super().__init__(
            binary=binary
            or (DEFAULT_BINARY if Path(DEFAULT_BINARY).exists() else shutil.which("prometheus")),
            workdir=workdir,
            ready_timeout=ready_timeout,
            die_with_parent=die_with_parent,
        )
        self._requested_port = port
        self._port: int | None = None
        self._extra_args = list(extra_args)

    # -- where things are ------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:41234``; only valid once started."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def port(self) -> int:
        if self._port is None:
            raise self._not_started()
        return self._port

    @property
    def config_path(self) -> Path:
        return self.workdir / "prometheus.yml"

    # -- configuration ---------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        """The configuration as a dict, as written to ``prometheus.yml``."""
        rule_paths = [str(self.workdir / "rules" / f"{name}.yml") for name in self._rule_files]
        return {
            "global": {
                "scrape_interval": _prometheus_duration(self._scrape_interval),
                "evaluation_interval": _prometheus_duration(self._evaluation_interval),
            },
            "rule_files": rule_paths,
            "scrape_configs": self._scrape_configs,
        }

    def _write_config(self) -> None:
        rules_dir = self.workdir / "rules"
        rules_dir.mkdir(parents=True, exist_ok=True)
        for old in rules_dir.glob("*.yml"):
            old.unlink()
        for name, text in self._rule_files.items():
            if not name or "/" in name or name.startswith("."):
                raise ValueError(f"a rule file name must be a plain name, got {name!r}")
            (rules_dir / f"{name}.yml").write_text(text)
        temporary = self.config_path.with_suffix(".yml.tmp")
        temporary.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        temporary.replace(self.config_path)

    def update(
        self,
        *,
        scrape_configs: Sequence[Mapping[str, Any]] | None = None,
        rule_files: Mapping[str, str] | None = None,
        reload: bool = True,
    ) -> None:
        """Replace the scrape configs and/or rule files; reload a running server."""
        if scrape_configs is not None:
            self._scrape_configs = [dict(config) for config in scrape_configs]
        if rule_files is not None:
            self._rule_files = dict(rule_files)
        if self._workdir is not None:
            self._write_config()
        if reload and self.running:
            self.reload()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> PrometheusServer:
        """Start the server and wait until ``/-/ready``; raise ``PrometheusServerError``."""
        if self.running:
            return self
        self._prepare_workdir(install_hint="apt-get install -y --no-install-recommends prometheus")
        self._write_config()
        attempts = 1 if self._requested_port is not None else 3
        for attempt in range(attempts):
            self._port = self._requested_port or free_port()
            self._spawn_server()
            try:
                self._wait_ready(lambda: self._get_status("/-/ready") == 200)
                return self
            except PrometheusServerError:
                in_use = "address already in use" in self.log_tail(10)
                self._terminate(grace=self.stop_grace_seconds)
                if not in_use or attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _spawn_server(self) -> None:
        data_dir = self.workdir / "data"
        data_dir.mkdir(exist_ok=True)
        self._spawn(
            [
                f"--config.file={self.config_path}",
                f"--storage.tsdb.path={data_dir}",
                f"--web.listen-address=127.0.0.1:{self._port}",
                "--web.enable-lifecycle",
                *self._extra_args,
            ],
            env={"GOMAXPROCS": os.environ.get("GOMAXPROCS", "1")},
        )

    def _get_status(self, path: str, *, method: str = "GET", timeout: float = 2.0) -> int | None:
        request = urllib.request.Request(self.url + path, method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status: int = response.status
                return status
        except urllib.error.HTTPError as error:
            return error.code
        except (urllib.error.URLError, OSError):
            return None

    def reload(self) -> None:
        """Apply the written configuration (``POST /-/reload``); raise if it is refused."""
        if not self.running:
            raise PrometheusServerError("cannot reload: Prometheus is not running")
        status = self._get_status("/-/reload", method="POST", timeout=10.0)
        if status != 200:
            raise PrometheusServerError(
                f"reload failed (HTTP {status}); is the configuration valid?\n{self.log_tail()}"
            )

    def targets(self) -> list[dict[str, Any]]:
        """The active scrape targets as Prometheus reports them (``/api/v1/targets``)."""
        try:
            with urllib.request.urlopen(self.url + "/api/v1/targets", timeout=5.0) as response:
                body = json.loads(response.read())
        except (urllib.error.URLError, OSError, ValueError) as error:
            raise PrometheusServerError(f"cannot list targets: {error}") from None
        active: list[dict[str, Any]] = body.get("data", {}).get("activeTargets", [])
        return active

    def wait_for_targets(self, *, timeout: float = 30.0) -> None:
        """Wait until every configured target has been scraped successfully at least once."""
        deadline = time.monotonic() + timeout
        states: list[str] = []
        while time.monotonic() < deadline:
            targets = self.targets()
            states = [str(target.get("health")) for target in targets]
            if targets and all(state == "up" for state in states):
                return
            time.sleep(0.2)
        raise PrometheusServerError(f"targets not up within {timeout:.0f}s: {states}")

    def stop(self, *, grace: float | None = None) -> None:
        """Terminate (then kill after ``grace`` seconds), reap, and remove owned files."""
        super().stop(grace=grace)
        self._port = None
