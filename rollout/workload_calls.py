"""Managed versions around one decision, through the ``Workloads`` port.

For a rollout with ``spec.workload.managed`` (:mod:`rollout.spec.managed`) the coordinator:

- makes the canary's Deployment from the template before it asks whether it is ready
  (:func:`ensure_canary`);
- before a decided raise of the canary weight, scales the canary up to the replicas the
  new weight needs and holds the raise until that many are ready (:func:`scaling_hold`:
  a hold the tick is decided again with, as a hook's no is); before an abort inside a
  keep window moves the traffic back, gives the old stable its replicas back and holds
  until they are ready (:func:`restore_hold`);
- after the state is saved, first keeps the autoscaler's target on the stable version
  (:func:`follow_stable`), then sizes every version it knows (:func:`apply_scaling`): the
  stable version at ``replicas`` (unless the autoscaler owns it), the canary at its share
  (never shrunk while it is under way), and a retired version (the old stable after its
  keep window, a rolled-back canary after its delay) at zero. The Deployment the
  autoscaler targets is never scaled by the controller, so it is never scaled to zero.

No I/O of its own: every call goes through the port, so this module sits with the seams.
"""

from __future__ import annotations

from rollout.errors import ClusterError
from rollout.spec.hooks import HookKind
from rollout.spec.rollout import Rollout
from rollout.state import RolloutState
from rollout.tick import Decision, HookHold
from rollout.version_ports import Replicas, Workloads

__all__ = [
    "Unmanaged",
    "apply_scaling",
    "ensure_canary",
    "follow_stable",
    "gate_hold",
    "planned_replicas",
    "restore_hold",
    "scaling_hold",
]


def ensure_canary(
    workloads: Workloads, rollout: Rollout, version: str, owner_uid: str
) -> str | None:
    """Make ``version``'s Deployment when the rollout is managed and it is missing; what
    keeps it from being made, for the readiness message (None when nothing does)."""
    managed = rollout.spec.workload.managed
    if managed is None:
        return None
    try:
        workloads.ensure(rollout, version, owner_uid=owner_uid, replicas=managed.canary_replicas(0))
    except ClusterError as error:
        return str(error)
    return None


def scaling_hold(workloads: Workloads, rollout: Rollout, decision: Decision) -> HookHold | None:
    """For the first raise of the canary weight ``decision`` passed: scale the canary up to
    the replicas the new weight needs; a hold while fewer are ready."""
    managed = rollout.spec.workload.managed
    canary = decision.state.canary_version
    if managed is None or canary is None:
        return None
    point = next((p for p in decision.hooks if p.kind is HookKind.CONFIRM_STEP), None)
    if point is None:
        return None
    needed = managed.canary_replicas(
        point.weight, _autoscaled_stable(workloads, rollout, decision.state)
    )
    name = rollout.deployment_for(canary)
    current = workloads.replicas(rollout.namespace, name)
    if current is None:
        return HookHold(HookKind.CONFIRM_STEP, f"the canary's deployment {name} is missing")
    if current.wanted < needed:
        workloads.scale(rollout.namespace, name, needed)
    if current.ready >= needed:
        return None
    return HookHold(
        HookKind.CONFIRM_STEP,
        f"scaling the canary up for {point.weight}%: {current.ready}/{needed} replicas of "
        f"{name} ready",
    )


def restore_hold(
    workloads: Workloads, rollout: Rollout, before: RolloutState, decision: Decision
) -> HookHold | None:
    """For an abort that puts the kept old stable back (:meth:`rollout.tick.Tick.restore_kept`):
    give it the stable's replicas again (the spec's, or what the autoscaler gave the
    current stable) and hold the traffic's move until they are ready."""
    managed = rollout.spec.workload.managed
    restored, current = decision.state.stable_version, before.stable_version
    if managed is None or restored is None or restored != before.kept_stable:
        return None
    namespace, name = rollout.namespace, rollout.deployment_for(restored)
    found = workloads.replicas(namespace, name)
    if found is None:
        return HookHold(HookKind.ROLLBACK, f"its deployment {name} is missing")
    needed = managed.replicas
    if managed.autoscaler is not None and current is not None:
        serving = workloads.replicas(namespace, rollout.deployment_for(current))
        needed = serving.wanted if serving is not None else needed
    if found.wanted < needed:
        workloads.scale(namespace, name, needed)
    if found.ready >= needed:
        return None
    return HookHold(
        HookKind.ROLLBACK,
        f"scaling {name} back up before traffic moves to it: {found.ready}/{needed} ready",
    )


def gate_hold(
    workloads: Workloads, rollout: Rollout, before: RolloutState, decision: Decision
) -> HookHold | None:
    """What holds ``decision`` for the workloads' sake: a canary scaling up, or an old
    stable scaling back up for an abort; None when nothing does."""
    return scaling_hold(workloads, rollout, decision) or restore_hold(
        workloads, rollout, before, decision
    )


def _autoscaled_stable(workloads: Workloads, rollout: Rollout, state: RolloutState) -> int | None:
    """The stable's replicas when an autoscaler sizes it (the canary's share is of them)."""
    managed = rollout.spec.workload.managed
    if managed is None or managed.autoscaler is None or state.stable_version is None:
        return None
    found = workloads.replicas(rollout.namespace, rollout.deployment_for(state.stable_version))
    return None if found is None else found.wanted


def planned_replicas(
    rollout: Rollout,
    state: RolloutState,
    now: float,
    current: dict[str, Replicas | None],
    *,
    autoscaled: str | None = None,
) -> dict[str, int]:
    """The replicas each known version's Deployment should have now, by version; pure.

    ``current`` holds what the canary (and the stable) have, so a canary under way is never
    shrunk (it was scaled up ahead of a raise). ``autoscaled`` is the version whose
    Deployment an autoscaler targets: its replicas are the autoscaler's, so it is left out,
    and a canary's share is taken of them when it is the stable. A version not listed is
    left alone.
    """
    managed = rollout.spec.workload.managed
    if managed is None:
        return {}
    plan = {version: 0 for version, at in state.retiring.items() if at <= now}
    stable = state.stable_version
    base = None
    if stable is not None:
        plan[stable] = managed.replicas
        found = current.get(stable)
        if stable == autoscaled and found is not None:
            base = found.wanted
    canary = state.canary_version
    if canary is not None and state.phase.active:
        share = managed.canary_replicas(state.canary_weight, base)
        found = current.get(canary)
        plan[canary] = max(share, found.wanted if found is not None else 0)
    if autoscaled is not None:
        plan.pop(autoscaled, None)
    return plan


def follow_stable(workloads: Workloads, rollout: Rollout, state: RolloutState) -> str | None:
    """Keep the autoscaler's ``scaleTargetRef`` on the stable version's Deployment; the
    Deployment it targets afterwards (None without an autoscaler, "" for another kind).

    Before it is moved, the new target gets at least the replicas the autoscaler gave the
    old one, so the move never shrinks what serves the traffic. It is moved only to a
    Deployment that exists; when it cannot be moved it stays where it was (and that
    Deployment is then not scaled: the next tick tries again).
    """
    managed = rollout.spec.workload.managed
    if managed is None or managed.autoscaler is None or state.stable_version is None:
        return None
    namespace = rollout.namespace
    wanted = rollout.deployment_for(state.stable_version)
    target = workloads.autoscaler_target(namespace, managed.autoscaler)
    if target is None or target == wanted:
        return target
    stable = workloads.replicas(namespace, wanted)
    if stable is None:
        return target
    before = workloads.replicas(namespace, target) if target else None
    try:
        if before is not None and stable.wanted < before.wanted:
            workloads.scale(namespace, wanted, before.wanted)
        workloads.retarget(namespace, managed.autoscaler, current=target, deployment=wanted)
    except ClusterError:
        return target
    return wanted


def apply_scaling(
    workloads: Workloads, rollout: Rollout, state: RolloutState, now: float
) -> list[str]:
    """Scale the rollout's versions as :func:`planned_replicas` says; what failed, in
    words (the adapter logs it; the next tick tries again)."""
    if rollout.spec.workload.managed is None:
        return []
    namespace = rollout.namespace
    target = follow_stable(workloads, rollout, state)
    autoscaled = None
    current = {}
    for version in (state.canary_version, state.stable_version):
        if version is not None:
            name = rollout.deployment_for(version)
            current[version] = workloads.replicas(namespace, name)
            autoscaled = version if name == target else autoscaled
    failed = []
    plan = planned_replicas(rollout, state, now, current, autoscaled=autoscaled)
    for version, replicas in plan.items():
        if rollout.deployment_for(version) == target:
            continue  # the autoscaler's: never scaled here, so never to zero
        try:
            workloads.scale(namespace, rollout.deployment_for(version), replicas)
        except ClusterError as error:
            failed.append(str(error))
    return failed


class Unmanaged:
    """The workloads of a coordinator built without them: nothing is made, so a managed
    rollout waits (and says why) rather than moving traffic to a version nobody made."""

    def ensure(self, rollout: Rollout, version: str, *, owner_uid: str, replicas: int) -> None:
        raise ClusterError("this controller makes no Deployments")

    def replicas(self, namespace: str, deployment: str) -> Replicas | None:
        return None

    def scale(self, namespace: str, deployment: str, replicas: int) -> None:
        return None

    def autoscaler_target(self, namespace: str, autoscaler: str) -> str | None:
        return None

    def retarget(self, namespace: str, autoscaler: str, *, current: str, deployment: str) -> None:
        return None
