"""What header routes, mirroring and sticky sessions did to real requests, step by step.

The ``ab`` and ``mirror`` scenarios of ``rollout demo`` run this probe beside the steady
load while a version rolls out. Every round it reads where the rollout stands (the
Rollout's status) and what Envoy counted, sends a few requests of its own through Envoy,
and reads both again; a round whose step and Envoy route configuration did not change
while it ran is added to that step, so no request is credited to the wrong step:

- ``header_share``: of the probe's requests carrying the match header, the share the
  canary answered (``X-Version``), measured at the client behind Envoy;
- ``others_to_canary``: the same for its requests without header or cookie;
- ``mirror_percent``: the step's setting; ``mirrored_percent``: the requests the canary
  service served (all mirrored while it has no weight and no header route) as a percentage
  of the live requests Envoy sent to stable in the same rounds;
- ``session_flips``: users who saw both versions (``session_users_on_canary``: those who
  saw the canary). Users arrive one a round with no cookie and come back with the cookie
  they were given, as a browser does.

Only steps where the canary has no weight count the mirror (with weight, the canary's
requests are not all mirrored), and the header share is counted only while a header route
is in force.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import random
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import yaml

from rollout.errors import RolloutError
from rollout.kube.store import KubeStateStore
from rollout.spec.rollout import Rollout
from rollout.spec.routing import routing_at
from rollout_local.demo.cluster import NAMESPACE, SERVICE
from rollout_local.demo.envoy_view import EnvoyView
from rollout_local.demo.service import DemoService
from rollout_local.demo.spec_repo import DemoSpec
from rollout_local.demo.stack import DemoStack
from rollout_local.processes.envoy_proxy import EnvoyProxy

__all__ = ["MATCH_HEADER", "RoutingProbe", "RoutingStep", "start_probe"]

MATCH_HEADER = ("x-canary", "always")
"""The header the ``ab`` scenario's ``setHeaderRoute`` matches."""


@dataclasses.dataclass
class RoutingStep:
    """The probe's counts over the clean rounds of one step of the rollout."""

    step: int
    weight: int
    header_route: bool
    mirror_percent: float
    seconds: float = 0.0
    header_requests: int = 0
    header_to_canary: int = 0
    other_requests: int = 0
    others_to_canary: int = 0
    live_requests: int = 0
    mirrored_requests: int = 0
    session_users: int = 0
    session_users_on_canary: int = 0
    session_flips: int = 0

    @property
    def header_share(self) -> float | None:
        if not self.header_route or not self.header_requests:
            return None
        return self.header_to_canary / self.header_requests

    @property
    def mirrored_percent(self) -> float | None:
        if self.weight or self.header_route or not self.live_requests:
            return None
        return 100.0 * self.mirrored_requests / self.live_requests

    def summary(self) -> dict[str, Any]:
        others = self.others_to_canary / self.other_requests if self.other_requests else None
        return {
            "step": self.step,
            "weight": self.weight,
            "seconds": round(self.seconds, 1),
            "header_share": _rounded(self.header_share, 4),
            "header_requests": self.header_requests if self.header_route else None,
            "others_to_canary": _rounded(others, 4),
            "mirror_percent": self.mirror_percent,
            "mirrored_percent": _rounded(self.mirrored_percent, 2),
            "mirrored_requests": self.mirrored_requests if self.mirror_percent else None,
            "live_requests": self.live_requests,
            "session_users": self.session_users,
            "session_users_on_canary": self.session_users_on_canary,
            "session_flips": self.session_flips,
        }


def _rounded(value: float | None, digits: int) -> float | None:
    return round(value, digits) if value is not None else None


_Ask = Callable[[dict[str, str]], tuple[str, str | None]]
"""Send one request with these headers: the version that answered and the cookie it set."""


@dataclasses.dataclass
class _User:
    cookie: str | None
    seen: set[str]


class RoutingProbe:
    """Probes one version's rollout until ``stop()``; ``steps`` holds what it measured."""

    def __init__(
        self,
        *,
        envoy: EnvoyProxy,
        view: EnvoyView,
        store: KubeStateStore,
        rollout: Rollout,
        stable: str,
        canary: DemoService,
        host: str,
        returning_per_round: int = 4,
    ) -> None:
        self._envoy, self._view, self._store = envoy, view, store
        self._rollout, self._stable, self._canary, self._host = rollout, stable, canary, host
        self._returning = returning_per_round
        self._random = random.Random(14)
        self._users: list[_User] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="routing-probe", daemon=True)
        self.steps: dict[int, RoutingStep] = {}
        self.error: str | None = None

    def start(self) -> RoutingProbe:
        self._thread.start()
        return self

    def stop(self) -> list[RoutingStep]:
        self._stopping.set()
        self._thread.join(10)
        return [self.steps[index] for index in sorted(self.steps)]

    # -- one round -------------------------------------------------------------------------

    def _run(self) -> None:
        parsed = urllib.parse.urlsplit(self._envoy.url)
        connection = http.client.HTTPConnection(parsed.hostname or "", parsed.port, timeout=5)
        try:
            while not self._stopping.is_set():
                try:
                    self._round(connection)
                except (OSError, http.client.HTTPException, RolloutError) as error:
                    self.error = str(error)
                    connection.close()
                self._stopping.wait(0.2)  # the probe is not the load: keep it light
        finally:
            connection.close()

    def _where(self) -> tuple[int, int, str] | None:
        """(step, weight, Envoy's route configuration) while this version is the canary."""
        state = self._store.load(self._rollout.namespace, self._rollout.name).state
        if not state.phase.active or state.canary_version != self._rollout.spec.version:
            return None
        return state.step_index, state.canary_weight, self._route_config()

    def _route_config(self) -> str:
        dump = self._envoy.admin_get("/config_dump?resource=dynamic_route_configs")
        return json.dumps(json.loads(dump).get("configs"), sort_keys=True)

    def _round(self, connection: http.client.HTTPConnection) -> None:
        where = self._where()
        if where is None:
            return
        started = time.monotonic()
        requests_before, _ = self._view.counters()
        served_before = self._canary.served
        ask = self._asker(connection)
        header = [ask({MATCH_HEADER[0]: MATCH_HEADER[1]})[0] for _ in range(5)]
        others = [ask({})[0] for _ in range(5)]
        self._sessions(ask)
        requests_after, _ = self._view.counters()
        served_after = self._canary.served
        if self._where() != where:
            return  # the step or Envoy's routes moved during the round: credited to none
        step_index, weight, _ = where
        step = self.steps.get(step_index)
        if step is None:
            routing = routing_at(self._rollout, step_index)
            step = RoutingStep(
                step=step_index,
                weight=weight,
                header_route=routing.header_route is not None,
                mirror_percent=routing.mirror_percent,
            )
            self.steps[step_index] = step
        canary = self._rollout.subset_for(self._rollout.spec.version)
        step.seconds += time.monotonic() - started
        step.header_requests += len(header)
        step.header_to_canary += header.count(canary)
        step.other_requests += len(others)
        step.others_to_canary += others.count(canary)
        stable = self._rollout.subset_for(self._stable)
        step.live_requests += requests_after.get(stable, 0) - requests_before.get(stable, 0)
        step.mirrored_requests += served_after - served_before
        step.session_users = len(self._users)
        step.session_users_on_canary = sum(1 for user in self._users if canary in user.seen)
        step.session_flips = sum(1 for user in self._users if len(user.seen) > 1)

    def _sessions(self, ask: _Ask) -> None:
        """One new user, and a few returning ones with the cookie they were given."""
        returning = self._random.sample(self._users, min(self._returning, len(self._users)))
        newcomer = _User(cookie=None, seen=set())
        self._users.append(newcomer)
        for user in [newcomer, *returning]:
            headers = {"Cookie": f"theme=dark; {user.cookie}"} if user.cookie else {}
            version, cookie = ask(headers)
            user.seen.add(version)
            if cookie and user.cookie is None:
                user.cookie = cookie

    def _asker(self, connection: http.client.HTTPConnection) -> _Ask:
        def ask(headers: dict[str, str]) -> tuple[str, str | None]:
            connection.request("GET", "/", headers={"Host": self._host, **headers})
            response = connection.getresponse()
            response.read()
            cookie = response.getheader("Set-Cookie")
            return str(response.getheader("X-Version")), cookie.split(";")[0] if cookie else None

        return ask


def start_probe(probes: list[RoutingProbe], stack: DemoStack, spec: DemoSpec, version: str) -> None:
    """Probe the rollout of ``version`` (deployed, not yet pushed) until ``stop()``."""
    probe = RoutingProbe(
        envoy=stack.envoy,
        view=stack.view,
        store=stack.store,
        rollout=Rollout.model_validate(yaml.safe_load(spec.render(version))),
        stable=stack.store.load(NAMESPACE, SERVICE).state.stable_version or "v1",
        canary=stack.services[version],
        host=SERVICE,
    )
    probes.append(probe.start())
