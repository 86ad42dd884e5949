"""Which spec each Rollout runs: the one place the desired spec is resolved.

For one stored Rollout and the spec source's last :class:`rollout.ports.SpecSet`:

1. parse the spec the Rollout carries (Git's mirror, or what Argo CD or Flux applied);
2. resolve the policies it names against the source's and the shipped ones (the catalog
   already resolved them for an unchanged Git spec, so those are reused);
3. an invalid spec (or an unknown policy) falls back to the last valid spec seen for that
   Rollout, with its problems carried into the tick; with none to fall back on there is
   nothing to run and the problem is returned for the caller to report;
4. a Git spec that turned invalid, or left the repository, is said so (``spec_problems``,
   ``deleted``).

Parsing a spec is a pydantic validation and resolving its policies renders them; an idle
Rollout is resolved at every Git poll and every resync with the same spec, so the last
resolution of each Rollout is reused while its spec body, its source annotations and the
spec source's reading are the same ones.

Pure: no I/O and no clock, only the memory of the last valid specs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from rollout import GROUP_VERSION
from rollout.errors import RolloutError
from rollout.ports import Desired, SpecSet, Stored
from rollout.spec.policy import Policy, RenderedPolicy, resolve
from rollout.spec.pydantic_problems import problems_from
from rollout.spec.rollout import Rollout
from rollout.spec.yamldocs import Document

__all__ = ["DesiredSpecs", "parse_stored"]


@dataclasses.dataclass(frozen=True)
class _Resolved:
    """One Rollout's last resolution and what it was resolved from."""

    spec: Mapping[str, Any]
    commit: str | None
    source_path: str | None
    specs: SpecSet | None
    desired: Desired


class DesiredSpecs:
    """Resolves the desired spec of stored Rollouts, remembering the last valid ones."""

    def __init__(self) -> None:
        self._specs: SpecSet | None = None
        self._last_valid: dict[str, tuple[Rollout, tuple[RenderedPolicy, ...]]] = {}
        self._resolved: dict[str, _Resolved] = {}

    @property
    def specs(self) -> SpecSet | None:
        """The spec source's last good sync; None before the first."""
        return self._specs

    def update(self, specs: SpecSet) -> None:
        self._specs = specs

    def resolve(self, stored: Stored) -> Desired | str:
        """The desired spec of ``stored``, or the problem that leaves nothing to run."""
        specs = self._specs
        known = self._resolved.get(stored.key)
        if (
            known is not None
            and known.specs is specs
            and (known.commit, known.source_path) == (stored.commit, stored.source_path)
            and known.spec == stored.spec
        ):
            return known.desired
        found = self._resolve(stored, specs)
        if isinstance(found, Desired) and not found.spec_problems:
            self._resolved[stored.key] = _Resolved(
                stored.spec, stored.commit, stored.source_path, specs, found
            )
        else:
            self._resolved.pop(stored.key, None)
        return found

    def _resolve(self, stored: Stored, specs: SpecSet | None) -> Desired | str:
        rollout, problem = parse_stored(stored)
        policies: tuple[RenderedPolicy, ...] = ()
        if rollout is not None:
            try:
                policies = _policies_for(rollout, specs)
            except RolloutError as error:
                rollout, problem = None, f"spec.analysis.policies: {error}"
        problems: tuple[str, ...] = ()
        if rollout is not None:
            self._last_valid[stored.key] = (rollout, policies)
        elif stored.key in self._last_valid:
            rollout, policies = self._last_valid[stored.key]
            problems = (problem,)
        else:
            return problem
        deleted = False
        author = None
        if specs is not None:
            deleted = specs.deleted(stored)
            problems = specs.problems_of(stored) or problems
            author = specs.author_of(stored)
        return Desired(
            rollout=rollout,
            policies=policies,
            commit=stored.commit,
            author=author,
            deleted=deleted,
            spec_problems=problems,
        )

    def forget(self, key: str) -> None:
        """The Rollout is gone: its last valid spec too."""
        self._last_valid.pop(key, None)
        self._resolved.pop(key, None)

    def keep_only(self, keys: set[str]) -> None:
        """Forget every Rollout but these (the ones still in the cluster)."""
        for key in set(self._last_valid) - keys:
            del self._last_valid[key]
        for key in set(self._resolved) - keys:
            del self._resolved[key]


def _policies_for(rollout: Rollout, specs: SpecSet | None) -> tuple[RenderedPolicy, ...]:
    loaded = specs.catalog if specs is not None else None
    if loaded is not None and rollout.key in loaded.rollouts:
        entry = loaded.rollouts[rollout.key]
        if entry.rollout.spec == rollout.spec:
            return entry.policies
    known: dict[str, Policy] = {}
    if loaded is not None:
        known.update({name: policy for name, (policy, _) in loaded.policies.items()})
    resolved: list[RenderedPolicy] = []
    for ref in rollout.spec.analysis.policies:
        if ref.name not in known:
            raise RolloutError(f"unknown policy {ref.name!r}")
        resolved.append(resolve(known[ref.name], ref.params))
    return tuple(resolved)


def parse_stored(stored: Stored) -> tuple[Rollout | None, str]:
    """The Rollout model of a stored resource, or None and what is wrong with it."""
    body = {
        "apiVersion": GROUP_VERSION,
        "kind": "Rollout",
        "metadata": {"name": stored.name, "namespace": stored.namespace},
        "spec": dict(stored.spec),
    }
    try:
        return Rollout.model_validate(body), ""
    except ValidationError as error:
        document = Document(stored.key, 0, body, {}, 0)
        problems = problems_from(error, document, Rollout)
        return None, "; ".join(f"{p.field}: {p.message}" for p in problems)
