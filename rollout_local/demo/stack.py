"""The embedded stack ``rollout demo`` runs on, started and stopped in order as one unit.

Every part is the real thing except the Kubernetes API (the project's local API server):

1. a webhook receiver that prints each alert as it arrives;
2. the local API server, with the Rollout CRD, the VirtualService, the DestinationRule
   and the alert Secret (``rollout_local.demo.cluster``); with ``spec.gateway_api`` the
   VirtualService gives way to an HTTPRoute and its two Services
   (``rollout_local.demo.gateway_world``);
3. the real Envoy, configured by the mesh agent from the Istio objects;
4. the real Prometheus, scraping Envoy every second with the recording rules that give
   Istio's standard metrics (``rollout_local.processes.recording_rules``);
5. a Git repository with the rollout spec (``rollout_local.demo.spec_repo``);
6. the controller, in-process, as ``rollout run`` builds it, syncing on a signed push hook;
7. steady traffic through Envoy from the load generator.

Versions are deployed as a cluster would run them (``deploy``): a demo service, a
Deployment marked Available once the service answers, a DestinationRule subset, and a
warm-up through the preview route so Envoy and Prometheus have the version's series
before it gets canary traffic.

``DemoStack`` is a context manager. Whatever happens (an error, Ctrl-C, SIGTERM through
``sigterm_as_interrupt``), leaving it stops every part in reverse order and reaps every
child process; Envoy and Prometheus are also tied to the starting thread with
``PR_SET_PDEATHSIG``, so even a killed demo leaves none behind. Start it from the main
thread.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import secrets
import shutil
import signal
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

from kubelite import LocalApiServer
from rollout.cli import people_commands
from rollout.controller import Controller, ControllerSettings
from rollout.dashboard.access import OneTimeToken
from rollout.dashboard.app import dashboard_app
from rollout.errors import RolloutError
from rollout.kube.dashboard_reads import DashboardReads
from rollout.kube.store import KubeStateStore
from rollout.metrics.prometheus import PrometheusSettings
from rollout.server.serving import UvicornThread
from rollout.state import Phase
from rollout_local.demo import gateway_world
from rollout_local.demo.cluster import (
    NAMESPACE,
    PREVIEW_HEADER,
    PREVIEW_HOST,
    SERVICE,
    DemoCluster,
    qualified_host,
)
from rollout_local.demo.envoy_view import EnvoyView
from rollout_local.demo.service import Behaviour, DemoService
from rollout_local.demo.spec_repo import DemoSpec, SpecRepository, post_push_hook
from rollout_local.lifecycle import Lifecycle
from rollout_local.loadgen import LoadGenerator
from rollout_local.mesh_agent import MeshAgent
from rollout_local.processes import recording_rules
from rollout_local.processes.envoy_proxy import EnvoyProxy
from rollout_local.processes.prometheus_server import PrometheusServer
from rollout_local.receiver import WebhookReceiver

__all__ = ["DemoStack", "sigterm_as_interrupt"]

log = logging.getLogger(__name__)

MAX_TRAFFIC_SECONDS = 900.0
"""The load generator stops by itself after this, whatever happens to the demo."""


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises ``KeyboardInterrupt`` like Ctrl-C does."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _wait(condition: Callable[[], bool], *, timeout: float, what: str, every: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RolloutError(f"the demo stack timed out after {timeout:.0f}s: {what}")
        time.sleep(every)


class DemoStack(Lifecycle):
    """All parts of the demo on 127.0.0.1; see the module docstring for the order."""

    def __init__(
        self,
        *,
        spec: DemoSpec,
        rate: float,
        echo: Callable[[str], None],
        first_version: str = "v1",
        first_behaviour: Behaviour | None = None,
    ) -> None:
        self.spec = spec
        self.gateway_api = spec.gateway_api
        self.rate = rate
        self.echo = echo
        self.first_version = first_version
        self.first_behaviour = first_behaviour or Behaviour()
        self.started_at = time.time()
        self._exit = contextlib.ExitStack()
        self._hook_secret = secrets.token_hex(16)
        self.services: dict[str, DemoService] = {}
        self.workdir: Path
        self.receiver: WebhookReceiver
        self.apiserver: LocalApiServer
        self.kubeconfig: Path
        self.cluster: DemoCluster
        self.envoy: EnvoyProxy
        self.mesh: MeshAgent
        self.prometheus: PrometheusServer
        self.repo: SpecRepository
        self.controller: Controller
        self.store: KubeStateStore
        self.load: LoadGenerator
        self.view: EnvoyView
        self.dashboard_url = ""

    def note(self, text: str) -> None:
        self.echo(f"{time.time() - self.started_at:6.1f}s  {text}")

    # -- starting and stopping -------------------------------------------------------------

    def start(self) -> DemoStack:
        """Start every part in order; if one fails, stop those already started."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every started part in reverse order; a second Ctrl-C cannot cut this short."""
        try:
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        except ValueError:  # not the main thread: nothing to shield
            previous = None
        try:
            self._exit.close()
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)

    def _start(self) -> None:
        exit_stack = self._exit
        self.workdir = Path(tempfile.mkdtemp(prefix="rollout-demo-"))
        exit_stack.callback(shutil.rmtree, self.workdir, ignore_errors=True)
        self.note(f"working directory {self.workdir}")

        self.receiver = WebhookReceiver(echo=lambda line: self.echo(f"{'':9}alert  {line}"))
        exit_stack.enter_context(self.receiver)

        self.apiserver = exit_stack.enter_context(LocalApiServer(port=0, bookmark_interval=1.0))
        kubeconfig = self.apiserver.write_kubeconfig(self.workdir / "kubeconfig")
        self.kubeconfig = kubeconfig
        self.cluster = DemoCluster(kubeconfig)
        exit_stack.callback(self.cluster.close)
        self.cluster.install(
            first_version=self.first_version, alert_url=f"{self.receiver.url}/slack"
        )
        self.cluster.add_version(self.first_version)
        if self.gateway_api:
            gateway_world.install(self.cluster.api, first_version=self.first_version)
        self.note(f"local API server {self.apiserver.url} (kubeconfig {kubeconfig})")

        self.envoy = exit_stack.enter_context(EnvoyProxy(workdir=self.workdir / "envoy"))
        self.mesh = exit_stack.enter_context(
            MeshAgent(
                proxy=self.envoy,
                kubeconfig=kubeconfig,
                namespace=NAMESPACE,
                gateway_api=self.gateway_api,
            )
        )
        self.view = EnvoyView(self.envoy, host=qualified_host())
        self.note(
            f"envoy pid {self.envoy.pid}: traffic {self.envoy.url}, admin {self.envoy.admin_url}"
        )

        rules = recording_rules.rules_yaml(
            [recording_rules.IstioService(name=SERVICE, namespace=NAMESPACE)], interval=1.0
        )
        self.prometheus = exit_stack.enter_context(
            PrometheusServer(
                scrape_configs=[recording_rules.envoy_scrape_config(self.envoy.admin_url)],
                scrape_interval=1.0,
                rule_files={"istio": rules},
                workdir=self.workdir / "prometheus",
            )
        )
        self.note(f"prometheus pid {self.prometheus.pid}: {self.prometheus.url}")
        self.prometheus.wait_for_targets(timeout=30)

        self.deploy(self.first_version, self.first_behaviour)
        self.repo = SpecRepository(self.workdir / "git", self.spec)
        self.repo.push(self.first_version, message=f"{SERVICE}: {self.first_version} is live")

        settings = ControllerSettings(
            prometheus=PrometheusSettings(url=self.prometheus.url),
            git_url=self.repo.url,
            cache_dir=self.workdir / "controller-cache",
            poll_interval=5.0,
            kubeconfig=str(kubeconfig),
            listen_host="127.0.0.1",
            listen_port=0,
            hook_secret=self._hook_secret,
            leader_election=False,
            identity="rollout-demo",
        )
        self.controller = Controller(settings)
        self.controller.start()
        exit_stack.callback(self.controller.stop)
        self.store = KubeStateStore(self.controller.api)
        self.note(f"controller syncing {self.repo.url}, push hook {self.hook_url}")
        self._start_dashboard()
        _wait(self._first_version_adopted, timeout=30, what="the controller adopting v1")

        self.load = LoadGenerator(
            url=self.envoy.url, host=SERVICE, rate=self.rate, connections=48, timeout=5.0
        )
        self.load.start(duration=MAX_TRAFFIC_SECONDS)
        exit_stack.callback(self.load.stop)
        self.note(f"load generator: {self.rate:.0f} req/s through Envoy to {SERVICE}")

    def _start_dashboard(self) -> None:
        """``rollout dashboard`` as a person would run it on this stack: 127.0.0.1, a
        one-time token in the printed URL."""
        gate = OneTimeToken(people_commands.local_user())
        app = dashboard_app(DashboardReads(self.controller.api), gate, interval=1.0)
        server = UvicornThread(app, host="127.0.0.1", port=0, name="demo-dashboard")
        server.start()
        self._exit.callback(server.stop)
        self.dashboard_url = f"{server.url}/?token={gate.token}"
        self.note(f"dashboard {self.dashboard_url}  (open it: the rollout, live; works once)")

    @property
    def hook_url(self) -> str:
        return f"{self.controller.server.url}/hooks/git"

    def _first_version_adopted(self) -> bool:
        try:
            state = self.store.load(NAMESPACE, SERVICE).state
        except RolloutError:
            return False
        return state.phase is Phase.SUCCEEDED and state.stable_version == self.first_version

    # -- what the story does ---------------------------------------------------------------

    def deploy(self, version: str, behaviour: Behaviour) -> DemoService:
        """Run ``version`` as a cluster would, ready to take traffic, series warmed up."""
        self.cluster.add_version(version)
        service = self.run_version(version, behaviour, warm_up=False)
        self.cluster.mark_available(version)
        self._warm_up(version)
        return service

    def run_version(
        self, version: str, behaviour: Behaviour, *, warm_up: bool = True
    ) -> DemoService:
        """Start ``version``'s service (its pods, as it were) behind Envoy, answering (and
        warmed up); its subset and preview route are added when missing. For a managed
        version the controller made the Deployment (``rollout_local.demo.workloads``)."""
        self.cluster.add_version(version, deployment=False)
        seed = len(self.services) + 1
        service = DemoService(name=SERVICE, version=version, behaviour=behaviour, seed=seed)
        self._exit.enter_context(service)
        self.services[version] = service
        self.mesh.set_backend(qualified_host(), version, service.address)
        _wait(lambda: _answers(service.url), timeout=10, what=f"{version} answering")
        if warm_up:
            self._warm_up(version)
        return service

    def stop_version(self, version: str) -> None:
        """Stop ``version``'s service: its Deployment was scaled to zero."""
        service = self.services.pop(version, None)
        if service is not None:
            service.stop()

    def _warm_up(self, version: str, *, requests: int = 5) -> None:
        """A few requests through Envoy's preview route, then wait for Prometheus's series."""
        self.note(
            f"warming up {version}: {requests} requests through Envoy's preview route (matched "
            f"by the {PREVIEW_HEADER} header, not the canary share), so Envoy and Prometheus "
            f"know {version} before it gets any traffic"
        )
        answered = 0

        def send() -> bool:
            nonlocal answered
            if _preview_request(self.envoy.url, version):
                answered += 1
            return answered >= requests

        _wait(send, timeout=15, what=f"{version} answering through Envoy", every=0.05)
        workload = f"{SERVICE}-{version}"
        for metric in ("istio_requests_total", "istio_request_duration_milliseconds_count"):
            promql = f'{metric}{{destination_workload="{workload}"}}'
            _wait(
                lambda q=promql: bool(_query(self.prometheus.url, q)),  # type: ignore[misc]
                timeout=20,
                what=f"Prometheus recording {metric} for {workload}",
                every=0.3,
            )

    def push(self, version: str) -> str:
        """Commit the spec for ``version``, push, and tell the controller with a signed hook."""
        commit = self.repo.push(version)
        status = post_push_hook(self.hook_url, self._hook_secret, commit)
        if status not in (200, 202):
            raise RolloutError(f"the controller refused the push hook: HTTP {status}")
        return commit

    def promote(self, *, by: str = "demo") -> None:
        """What ``rollout promote checkout -n demo`` does: the command annotation."""
        self.store.request_command(NAMESPACE, SERVICE, "promote", by)

    def child_pids(self) -> dict[str, int | None]:
        return {"envoy": self.envoy.pid, "prometheus": self.prometheus.pid}


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            response.read()
            return True
    except urllib.error.HTTPError:
        return True  # a 500 from a failing version is an answer
    except (urllib.error.URLError, OSError):
        return False


def _preview_request(envoy_url: str, version: str) -> bool:
    """One request through the preview route; True when ``version`` itself answered."""
    parsed = urllib.parse.urlsplit(envoy_url)
    connection = http.client.HTTPConnection(parsed.hostname or "", parsed.port, timeout=5)
    try:
        connection.request("GET", "/", headers={"Host": PREVIEW_HOST, PREVIEW_HEADER: version})
        response = connection.getresponse()
        response.read()
        return response.getheader("X-Version") == version
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def _query(prometheus_url: str, promql: str) -> list[object]:
    url = f"{prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            body = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return []
    result: list[object] = body.get("data", {}).get("result", [])
    return result
