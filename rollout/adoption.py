"""Adoption: where a rollout stands when the controller has no state for it.

No state means first sight of a service, but also a Rollout deleted and recreated
mid-rollout (Argo CD's prune-and-recreate, ``kubectl replace --force``), a status lost to
a restore from backup, a CRD reinstall or an API server that lost its data. Taking the
spec's version as stable would then send an unanalysed canary to 100%. So the stable
version comes from the cluster, never from the spec:

1. the record the router keeps on each managed VirtualService
   (:mod:`rollout.route_record`), when the live routes agree with it: the rollout resumes
   at its step, with its failed revision;
2. otherwise the live routes alone: the destination holding the most weight is stable,
   another destination with weight is a canary under way;
3. a single destination that names no subset (a route the controller has never managed)
   is the one case where the spec's version is taken as stable, as it was before.

A canary with live traffic resumes as a rollout under way, at no more than the weight it
has (the lowest any route gives it), and its analysis starts again; with
``spec.onAdopt: revert`` it is sent back to stable instead and the rollout starts over.
Either way adoption never gives any version more traffic than the routes already give it.

Pure: no I/O, no clock. The coordinator reads the routes and passes them in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from rollout import route_record
from rollout.effects import SetWeights
from rollout.route_record import RouteRecord
from rollout.spec.rollout import OnAdopt, Rollout
from rollout.state import Phase, RolloutState

__all__ = ["Adoption", "LiveRoutes", "adopt", "resume_step"]


@dataclasses.dataclass(frozen=True)
class LiveRoutes:
    """What the managed routes carry, as the router read them.

    ``splits`` holds, per managed route, the weight of each destination subset of the
    rollout's host (``""`` for a destination naming no subset); ``records`` the raw record
    annotations found on the VirtualServices holding those routes.
    """

    splits: tuple[Mapping[str, int], ...]
    records: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Adoption:
    """The adopted state and the weights that settle the routes on it (never more traffic
    to any version than it has); ``state`` None when nothing can be adopted yet."""

    state: RolloutState | None
    weights: SetWeights | None
    reason: str
    message: str


def adopt(
    rollout: Rollout,
    live: LiveRoutes | None,
    base: RolloutState,
    *,
    now: float,
    spec_hash: str,
    commit: str | None,
) -> Adoption:
    """Adopt from the live routes (and their record); ``base`` keeps what else the state
    holds (conditions, commands, alerts)."""
    if live is None or not live.splits:
        return Adoption(None, None, "NotAdopted", "waiting to read the live routes")
    versions = _Versions(rollout)
    record = _trusted_record(rollout, live)
    if record is not None:
        return _from_record(rollout, live, base, record, now=now)
    carrying = _carrying(live)
    if not carrying:
        return Adoption(None, None, "NotAdopted", "no managed route carries any traffic")
    if set(carrying) == {""}:
        version = rollout.spec.version
        state = _stable(base, version, spec_hash=spec_hash, commit=commit)
        message = f"the route names no subset: {version} (the spec's version) adopted as stable"
        return Adoption(state, SetWeights(version, None, 0), "Initialized", message)
    known = {versions.of(subset): weight for subset, weight in carrying.items()}
    if None in known:
        unknown = ", ".join(repr(s) for s in carrying if versions.of(s) is None)
        return Adoption(None, None, "NotAdopted", f"subsets {unknown} name no version")
    desired = rollout.spec.version
    carriers = sorted((v for v in known if v is not None), key=lambda v: -known[v])
    if len(carriers) == 1:
        stable = carriers[0]
        state = _stable(
            base, stable, spec_hash=spec_hash if stable == desired else "", commit=commit
        )
        message = f"{stable} adopted as stable: the live routes send all traffic to it"
        return Adoption(state, SetWeights(stable, None, 0), "Initialized", message)
    canary = _planned_canary(rollout, live, carriers)
    if canary is None:
        split = ", ".join(f"{v} {_lowest_weight(live, rollout.subset_for(v))}%" for v in carriers)
        message = (
            f"cannot tell which version is stable ({split}) and no record says: no traffic "
            "moves until the VirtualService sends everything to one version"
        )
        return Adoption(None, None, "NotAdopted", message)
    stable = next(v for v in carriers if v != canary)
    weight = _lowest_weight(live, rollout.subset_for(canary))
    ours = canary == desired
    revision = f"{canary}@{spec_hash[:12]}" if ours else canary
    under_way = _Resumed(
        canary, weight, resume_step(rollout, weight), revision, spec_hash if ours else ""
    )
    return _canary_found(rollout, base, stable, under_way, now=now, commit=commit)


@dataclasses.dataclass(frozen=True)
class _Resumed:
    canary: str
    weight: int
    step: int
    revision: str
    spec_hash: str


class _Versions:
    """Subset names back to versions, through the spec's subset template."""

    def __init__(self, rollout: Rollout) -> None:
        self._template = rollout.spec.workload.subset
        self._rollout = rollout

    def of(self, subset: str) -> str | None:
        head, marker, tail = self._template.partition("{version}")
        if not marker or not subset.startswith(head) or not subset.endswith(tail):
            return None
        version = subset[len(head) : len(subset) - len(tail)]
        if not version or self._rollout.subset_for(version) != subset:
            return None
        return version


def _carrying(live: LiveRoutes) -> dict[str, int]:
    """Each subset that carries weight on some route, with its total over the routes."""
    totals: dict[str, int] = {}
    for split in live.splits:
        for subset, weight in split.items():
            if weight > 0:
                totals[subset] = totals.get(subset, 0) + weight
    return totals


def _planned_canary(rollout: Rollout, live: LiveRoutes, carriers: list[str]) -> str | None:
    """Which of two versions with traffic is the canary, when no record says.

    Calling the wrong one stable could send an unanalysed version to 100% (a rollback or
    a new version ends a canary by giving the stable everything), and neither the weights
    nor the spec alone tell: the spec may ask for the canary, or have gone back to the
    stable. The controller sets a canary only to a planned ``setWeight``, so the canary is
    the one version whose weight is one; None (nothing adopted) when that does not settle
    it, or when more than two versions carry traffic.
    """
    if len(carriers) != 2:
        return None
    planned = {s.set_weight for s in rollout.spec.steps if s.set_weight is not None}
    candidates = [
        version
        for version in carriers
        if _lowest_weight(live, rollout.subset_for(version)) in planned - {0, 100}
    ]
    return candidates[0] if len(candidates) == 1 else None


def _lowest_weight(live: LiveRoutes, subset: str) -> int:
    return min(split.get(subset, 0) for split in live.splits)


def resume_step(rollout: Rollout, weight: int) -> int:
    """The step to resume at for a canary found at ``weight`` with no record: just after
    the last ``setWeight`` at or below it, so the canary keeps its weight and the steps
    that follow (analysis first) run again."""
    step = 0
    for index, planned in enumerate(rollout.spec.steps):
        if planned.set_weight is not None and planned.set_weight <= weight:
            step = index + 1
    return step


def _trusted_record(rollout: Rollout, live: LiveRoutes) -> RouteRecord | None:
    """The first record that belongs to this rollout and that the routes agree with:
    every route has the stable destination, and nothing but stable and canary carries
    weight."""
    for text in live.records:
        record = route_record.decode(text, rollout.key)
        if record is None:
            continue
        stable = rollout.subset_for(record.stable)
        ours = {stable} if record.canary is None else {stable, rollout.subset_for(record.canary)}
        stable_everywhere = all(stable in split for split in live.splits)
        others = any(w > 0 and s not in ours for split in live.splits for s, w in split.items())
        if stable_everywhere and not others:
            return record
    return None


def _from_record(
    rollout: Rollout, live: LiveRoutes, base: RolloutState, record: RouteRecord, *, now: float
) -> Adoption:
    kept = base.model_copy(update={"failed": record.failed})
    weight = _lowest_weight(live, rollout.subset_for(record.canary)) if record.canary else 0
    if record.canary is None or weight == 0:
        state = _stable(kept, record.stable, spec_hash=record.spec_hash, commit=None)
        if state.failed is not None:
            state = state.model_copy(
                update={"phase": Phase.ROLLED_BACK, "message": state.failed.reason}
            )
        message = f"{record.stable} adopted as stable from the record on the VirtualService"
        return Adoption(state, SetWeights(record.stable, None, 0), "Adopted", message)
    step = record.step if record.weight == weight else resume_step(rollout, weight)
    under_way = _Resumed(record.canary, weight, step, record.revision, record.spec_hash)
    return _canary_found(rollout, kept, record.stable, under_way, now=now, commit=None)


def _stable(
    base: RolloutState, version: str, *, spec_hash: str, commit: str | None
) -> RolloutState:
    return base.model_copy(
        update={
            "phase": Phase.SUCCEEDED,
            "message": f"{version} is stable",
            "stable_version": version,
            "canary_version": None,
            "canary_weight": 0,
            "spec_hash": spec_hash,
            "commit": commit,
        }
    )


def _canary_found(
    rollout: Rollout,
    base: RolloutState,
    stable: str,
    resumed: _Resumed,
    *,
    now: float,
    commit: str | None,
) -> Adoption:
    canary, weight = resumed.canary, resumed.weight
    if rollout.spec.on_adopt is OnAdopt.REVERT:
        state = _stable(base, stable, spec_hash="", commit=commit)
        message = f"found {canary} at {weight}%: reverted to {stable} (onAdopt: revert)"
        return Adoption(state, SetWeights(stable, None, 0), "AdoptedReverted", message)
    state = base.model_copy(
        update={
            "phase": Phase.PROGRESSING,
            "message": f"resumed {canary} at {weight}%: analysis starts again",
            "stable_version": stable,
            "canary_version": canary,
            "canary_weight": weight,
            "step_index": min(resumed.step, len(rollout.spec.steps)),
            "step_started_at": now,
            "rollout_started_at": now,
            "canary_traffic_since": now,
            "revision": resumed.revision,
            "spec_hash": resumed.spec_hash,
            "commit": commit,
            "analysis": {},
            "inconclusive_streak": 0,
            "last_verdict": None,
        }
    )
    message = (
        f"found {canary} at {weight}% beside stable {stable}: resumed at step "
        f"{state.step_index}, analysis starts again"
    )
    return Adoption(state, SetWeights(stable, canary, weight), "Adopted", message)
