"""The scenarios of ``rollout demo``: versions pushed to Git and what the controller does.

``story`` (the default) is the whole tour: v1 is stable; v2, healthy, is pushed and
promoted step by step; v3, failing 5% of its requests, is pushed and rolled back within
seconds, with an alert that says why. The other scenarios show one behaviour each:
``healthy`` (a promotion), ``errors`` (a 5%-error canary rolled back), ``latency`` (a
canary whose p99 goes from about 100 ms to about 400 ms, rolled back by the latency
policies), ``manual-gate`` (a ``pause: {}`` step: the rollout waits, the demo promotes
it the way ``rollout promote`` does, and it completes), and the routing ones measured by
``routing_probe``: ``ab`` (a header route, then weights with sticky sessions) and
``mirror`` (mirroring first, then weights), and ``bluegreen`` (a preview by header,
then 0 -> 100% at once, kept for a rollback window); ``gateway-api``: on an HTTPRoute;
``managed``: the controller makes v2 and v3 from a template, v1 is scaled to zero after
the keep window, v3 after its rollback (``rollout_local.demo.workloads``).

``run_demo`` runs one scenario on a fresh ``DemoStack`` and returns a ``DemoResult``, whose
``summary()`` is the machine-readable JSON and which ``rollout_local.demo.report`` renders.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable
from typing import Any

from rollout.errors import RolloutError
from rollout_local.demo import gateway_world, summary, workloads
from rollout_local.demo.cluster import NAMESPACE, SERVICE
from rollout_local.demo.monitor import (
    PAUSED,
    PROMOTED,
    ROLLED_BACK,
    DemoMonitor,
    TimelinePoint,
    VersionRecord,
)
from rollout_local.demo.routing_probe import RoutingProbe, RoutingStep, start_probe
from rollout_local.demo.service import Behaviour
from rollout_local.demo.spec_repo import DemoSpec
from rollout_local.demo.stack import DemoStack
from rollout_local.receiver import format_alert

__all__ = ["SCENARIOS", "DemoOptions", "DemoResult", "Push", "Scenario", "run_demo"]

HEALTHY = Behaviour(error_rate=0.001, latency_median_ms=30, latency_sigma=0.5, latency_max_ms=2000)
"""p99 about 100 ms, one request in a thousand failing."""
FAILING = dataclasses.replace(HEALTHY, error_rate=0.05)
SLOW = dataclasses.replace(HEALTHY, latency_median_ms=120)
"""p99 about 400 ms: over the 300 ms SLO, and 7% of requests slower than 250 ms."""
SETTLE_SECONDS = 2.0


@dataclasses.dataclass(frozen=True)
class Push:
    """One version pushed to Git, how it behaves, and what should become of it."""

    version: str
    behaviour: Behaviour
    description: str
    expected: str


@dataclasses.dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    pushes: tuple[Push, ...]
    manual_gate_after: int | None = None
    """Index of the weight after which the spec pauses until promoted."""
    routing: str | None = None
    """``ab``, ``mirror`` or ``bluegreen``: measured by ``routing_probe``."""
    extra_seconds: float = 0.0
    """More time for a decision than ``DemoOptions.decision_timeout``: more steps."""
    gateway_api: bool = False
    managed: bool = False
    """The controller makes and scales the versions' Deployments (``demo.workloads``)."""


SCENARIOS: dict[str, Scenario] = {
    scenario.name: scenario
    for scenario in (
        Scenario(
            "story",
            "v2 (healthy) is promoted; v3 (5% errors) is rolled back",
            (
                Push("v2", HEALTHY, "healthy", PROMOTED),
                Push("v3", FAILING, "5% errors", ROLLED_BACK),
            ),
        ),
        Scenario(
            "healthy", "a healthy v2 is promoted", (Push("v2", HEALTHY, "healthy", PROMOTED),)
        ),
        Scenario(
            "errors",
            "v2 failing 5% of requests is rolled back",
            (Push("v2", FAILING, "5% errors", ROLLED_BACK),),
        ),
        Scenario(
            "latency",
            "v2 with p99 near 400 ms (v1: 100 ms) is rolled back by the latency policies",
            (Push("v2", SLOW, "p99 ~400 ms", ROLLED_BACK),),
        ),
        Scenario(
            "ab",
            "testers with a header reach v2 first; then weights, with sticky sessions",
            (Push("v2", HEALTHY, "healthy, header route", PROMOTED),),
            routing="ab",
            extra_seconds=60.0,
        ),
        Scenario(
            "mirror",
            "20% then 50% of the traffic mirrored to v2 and analysed; then weights",
            (Push("v2", HEALTHY, "healthy, mirrored first", PROMOTED),),
            routing="mirror",
            extra_seconds=60.0,
        ),
        Scenario(
            "bluegreen",
            "blue/green: v2 previewed by header and analysed, then switched 0 -> 100% at once",
            (Push("v2", HEALTHY, "healthy, blue/green", PROMOTED),),
            routing="bluegreen",
            extra_seconds=60.0,
        ),
        Scenario(
            "gateway-api",
            "a healthy v2 is promoted step by step on a Gateway API HTTPRoute",
            (Push("v2", HEALTHY, "healthy, HTTPRoute", PROMOTED),),
            gateway_api=True,
        ),
        Scenario(
            "managed",
            "managed versions: v2 made and promoted, v1 then scaled to 0; v3 (5% errors) "
            "made, rolled back and scaled to 0",
            (
                Push("v2", HEALTHY, "healthy, made by the controller", PROMOTED),
                Push("v3", FAILING, "5% errors, made by the controller", ROLLED_BACK),
            ),
            managed=True,
        ),
        Scenario(
            "manual-gate",
            "v2 pauses at 30% until promoted by a person, then completes",
            (Push("v2", HEALTHY, "healthy, manual gate", PROMOTED),),
            manual_gate_after=1,
        ),
    )
}


@dataclasses.dataclass(frozen=True)
class DemoOptions:
    scenario: str = "story"
    rate: float = 200.0
    gate_seconds: float = 5.0
    """With ``auto_promote``, how long the manual gate shows the rollout waiting first."""
    decision_timeout: float = 90.0
    auto_promote: bool = False
    """Promote at the manual gate by itself; otherwise wait for a person's promote."""
    keep: bool = False
    """After the story, keep the stack up until Ctrl-C for people to look around."""


@dataclasses.dataclass
class DemoResult:
    """Everything a run measured; ``summary()`` is the ``--json`` document."""

    scenario: Scenario
    options: DemoOptions
    spec_text: str
    started_at: float
    finished_at: float = 0.0
    versions: list[VersionRecord] = dataclasses.field(default_factory=list)
    timeline: list[TimelinePoint] = dataclasses.field(default_factory=list)
    final: dict[str, Any] = dataclasses.field(default_factory=dict)
    alerts: list[str] = dataclasses.field(default_factory=list)
    processes: dict[str, int | None] = dataclasses.field(default_factory=dict)
    expected: dict[str, str] = dataclasses.field(default_factory=dict)
    routing: dict[str, list[RoutingStep]] = dataclasses.field(default_factory=dict)
    """Per version, what the routing probe measured at each step (``ab``, ``mirror``)."""
    http_route: list[gateway_world.HTTPRouteState] | None = None
    replicas: dict[str, list[list[float]]] = dataclasses.field(default_factory=dict)
    """Per version, its Deployment's replicas as ``[seconds, replicas]`` points (managed)."""

    @property
    def seconds_total(self) -> float:
        return self.finished_at - self.started_at

    @property
    def as_expected(self) -> bool:
        outcomes = {record.version: record.outcome for record in self.versions}
        return all(outcomes.get(version) == want for version, want in self.expected.items())

    def summary(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario.name,
            "rate": self.options.rate,
            "seconds_total": round(self.seconds_total, 1),
            "as_expected": self.as_expected,
            "versions": summary.versions(self.versions, self.expected, self.routing, self.replicas),
            **({"replicas": self.replicas} if self.replicas else {}),
            "final": self.final,
            "alerts": self.alerts,
            **gateway_world.summary(self.http_route, self.versions, self.started_at),
            "processes": {
                # the stack reaps every child when it stops: these pids are history
                name: {"pid": pid, "stopped": self.finished_at > 0}
                for name, pid in self.processes.items()
            },
        }


def run_demo(options: DemoOptions, *, echo: Callable[[str], None]) -> DemoResult:
    """Run one scenario from a cold start to a stopped stack; call from the main thread."""
    if options.scenario not in SCENARIOS:
        raise RolloutError(
            f"unknown scenario {options.scenario!r}: choose one of {', '.join(SCENARIOS)}"
        )
    scenario = SCENARIOS[options.scenario]
    spec = DemoSpec.for_rate(
        options.rate, manual_gate_after=scenario.manual_gate_after, routing=scenario.routing
    )
    managed = workloads.managed_block() if scenario.managed else None
    spec = dataclasses.replace(spec, gateway_api=scenario.gateway_api, managed=managed)
    result = DemoResult(
        scenario=scenario,
        options=options,
        spec_text=spec.render("<version>"),
        started_at=time.time(),
        expected={push.version: push.expected for push in scenario.pushes},
    )
    echo(f"rollout demo: {scenario.title} ({options.rate:.0f} req/s)")
    with (
        DemoStack(
            spec=spec, rate=options.rate, echo=echo, first_version="v1", first_behaviour=HEALTHY
        ) as stack,
        workloads.managed_versions(stack, scenario.managed, result.started_at) as made,
    ):
        routes = gateway_world.start_watch(stack.cluster.api, enabled=spec.gateway_api)
        stack.started_at = result.started_at
        result.processes = stack.child_pids()
        monitor = DemoMonitor(
            envoy=stack.view,
            store=stack.store,
            namespace=NAMESPACE,
            name=SERVICE,
            echo=echo,
            started_at=result.started_at,
        ).start()
        try:
            stack.note("v1 is stable and serving all traffic")
            for push in scenario.pushes:
                probes: list[RoutingProbe] = []
                deployed = (
                    functools.partial(start_probe, probes, stack, spec, push.version)
                    if scenario.routing
                    else None
                )
                timeout = options.decision_timeout + scenario.extra_seconds
                try:
                    _roll_out(
                        stack,
                        monitor,
                        push,
                        dataclasses.replace(options, decision_timeout=timeout),
                        deployed,
                        made,
                    )
                finally:
                    for probe in probes:
                        result.routing[push.version] = probe.stop()
                if monitor.versions[-1].outcome != push.expected:
                    break
            if made is not None:
                made.wait_retired()
            time.sleep(SETTLE_SECONDS)  # traffic after the last decision, for the timeline
            if options.keep:
                _stay_up(stack)
        finally:
            monitor.stop()
            result.http_route = routes.stop() if routes else None
            result.versions = list(monitor.versions)
            result.timeline = list(monitor.timeline)
            result.alerts = [format_alert(request) for request in stack.receiver.received]
            result.replicas = made.timeline() if made is not None else {}
        result.final = _final_state(stack)
        stack.note("stopping the stack")
    result.finished_at = time.time()
    echo(f"{result.seconds_total:6.1f}s  stack stopped")
    return result


def _roll_out(
    stack: DemoStack,
    monitor: DemoMonitor,
    push: Push,
    options: DemoOptions,
    deployed: Callable[[], None] | None = None,
    made: workloads.DemoWorkloads | None = None,
) -> None:
    if made is None:
        stack.note(f"=== deploying {push.version} ({push.description})")
        stack.deploy(push.version, push.behaviour)
    else:
        made.expect(push.version, push.behaviour)  # the controller makes its Deployment
    if deployed is not None:
        deployed()
    commit = stack.push(push.version)
    record = monitor.pushed(push.version, commit=commit, description=push.description)
    stack.note(f"=== pushed {push.version} to Git (commit {commit[:8]}); the controller takes over")
    try:
        monitor.wait_until(
            lambda m: record.outcome is not None or record.paused_at is not None,
            timeout=options.decision_timeout,
            what=f"a decision on {push.version}",
        )
        if record.outcome is None and options.auto_promote:
            stack.note(
                f"{push.version} is paused for a person: the demo will run "
                f"`rollout promote {SERVICE} -n {NAMESPACE}` in {options.gate_seconds:.0f}s"
            )
            time.sleep(options.gate_seconds)
            stack.promote(by="rollout-demo")
            record.promoted_by = "rollout-demo"
            stack.note(f"promote requested (the Rollout's command annotation) for {push.version}")
            monitor.wait_until(
                lambda m: record.outcome is not None,
                timeout=options.decision_timeout,
                what=f"{push.version} to complete after the promotion",
            )
        elif record.outcome is None:
            stack.note(f"{push.version} is paused for a person: promote it from another terminal:")
            _print_commands(
                stack,
                f"rollout promote {SERVICE} -n {NAMESPACE}",
                f"rollout status {SERVICE} -n {NAMESPACE} -w",
            )
            monitor.wait_until(
                lambda m: record.outcome is not None, timeout=None, what="a person's promote"
            )
            record.promoted_by = _promoted_by(monitor)
    except RolloutError:
        if record.paused_at is not None and record.outcome is None:
            record.outcome, record.reason = PAUSED, "still waiting for a person"
            return
        raise
    if record.outcome != push.expected:
        stack.note(
            f"!!! {push.version} was {record.outcome}, the scenario expected {push.expected}"
        )


def _print_commands(stack: DemoStack, *commands: str) -> None:
    stack.echo(f"{'':9}export KUBECONFIG={stack.kubeconfig}")
    for command in commands:
        stack.echo(f"{'':9}{command}")


def _promoted_by(monitor: DemoMonitor) -> str | None:
    state = monitor.state
    promotes = [c for c in state.commands if c.action.startswith("promote")] if state else []
    return promotes[-1].by if promotes else None


def _stay_up(stack: DemoStack) -> None:
    """Keep every part running for people to step in, until Ctrl-C (or SIGTERM)."""
    stack.note("the story is over; the stack stays up until Ctrl-C. Try, in another terminal:")
    _print_commands(
        stack,
        f"rollout status -n {NAMESPACE} -w   (or: kubectl canary status -n {NAMESPACE} -w)",
        f"rollout retry {SERVICE} -n {NAMESPACE}   (after a rollback: try that version again)",
        f"git clone {stack.repo.url}   (the spec repository the controller follows)",
    )
    stack.echo(f"{'':9}dashboard: {stack.dashboard_url}   (the browser that opened it stays in)")
    try:
        while True:
            time.sleep(1.0)
    except KeyboardInterrupt:
        stack.note("Ctrl-C: stopping the stack")


def _final_state(stack: DemoStack) -> dict[str, Any]:
    state = stack.store.load(NAMESPACE, SERVICE).state
    try:
        envoy: dict[str, int] | None = stack.view.weights()
    except RolloutError:
        envoy = None  # a Ctrl-C to the whole process group stopped Envoy first
    return {
        "virtual_service": None if stack.spec.gateway_api else stack.cluster.route_weights(),
        "envoy": envoy,
        "phase": state.phase.value,
        "stable_version": state.stable_version,
        "failed_version": state.failed.version if state.failed else None,
        # stopped first, so no request is still in flight: sent = answered + errors
        "load": dataclasses.asdict(stack.load.stop()),
    }
