"""The two spec sources behind ``rollout.ports.SpecSource``: a Git repository, or the cluster.

- :class:`GitSpecSource` (the default) reads the repository at one commit, checks every
  spec and policy together, and mirrors each valid spec into its Rollout resource,
  annotated with the commit and path (through ``rollout.ports.SpecMirror``). The mirror is
  what the coordinator reads, and it keeps the last valid spec across restarts: an invalid
  newer spec is never mirrored. A Rollout whose spec left Git is retired (its mirror
  deleted) once it has finished.
- :class:`ClusterSpecSource` reads nothing but the policies named by ``--policies``: Argo
  CD or Flux already applied the Rollouts, and the controller never writes their spec.

Either way a sync yields a :class:`rollout.ports.SpecSet`; a failed one raises
``SourceError`` and the controller keeps the last good set.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import logging
from collections.abc import Sequence
from typing import Any

from rollout.errors import RolloutError
from rollout.ports import SpecMirror, SpecSet
from rollout.source.files import collect_files, read_catalog
from rollout.source.git import GitSource
from rollout.spec.catalog import LoadedRollout

__all__ = ["ClusterSpecSource", "GitSpecSource"]

log = logging.getLogger("rollout.source")

MIRROR_WRITERS = 8
"""Spec mirror writes in flight at once during a sync."""


class GitSpecSource:
    """:class:`rollout.ports.SpecSource` on a Git repository, mirrored into the cluster."""

    def __init__(self, git: GitSource, mirror: SpecMirror) -> None:
        self._git = git
        self._mirror = mirror
        self._last: tuple[str, SpecSet] | None = None
        self._bodies: dict[str, tuple[LoadedRollout, dict[str, Any]]] = {}
        """Each published entry and its dumped body (a poll at the same commit reuses them)."""

    def sync(self) -> SpecSet:
        """The specs at the branch's head; a poll that finds the same commit reuses the
        last reading (parsing and checking every spec again is the poll's whole cost)."""
        snapshot = self._git.sync()
        if self._last is not None and self._last[0] == snapshot.sha and not snapshot.unreadable:
            return self._last[1]
        loaded = read_catalog(
            dict(snapshot.files), commit=snapshot.sha, unreadable=snapshot.unreadable
        )
        specs = SpecSet(
            catalog=loaded,
            mirrored=True,
            authors={path: info.author for path, info in snapshot.file_commits.items()},
            commit_author=snapshot.commit.author,
            fingerprint=snapshot.sha,
        )
        self._last = (snapshot.sha, specs)
        return specs

    def publish(self, specs: SpecSet) -> None:
        """Mirror each valid spec into its Rollout resource, several writes at a time (after
        a push to many specs each rollout starts as soon as its own spec lands); a failure
        is logged, the others go on.

        A poll that finds the same commit hands over the same entries: their bodies are
        not dumped again, and they are checked one after the other against the cache (no
        request unless someone changed the Rollout meanwhile), without the writers' pool.
        """
        rollouts = specs.catalog.rollouts
        bodies: dict[str, tuple[LoadedRollout, dict[str, Any]]] = {}
        new: list[str] = []
        for key, entry in rollouts.items():
            known = self._bodies.get(key)
            if known is not None and known[0] is entry:
                bodies[key] = known
            else:
                dumped = entry.rollout.model_dump(mode="json", by_alias=True, exclude_none=True)
                bodies[key] = (entry, dumped)
                new.append(key)
        self._bodies = bodies

        def mirror_one(key: str) -> None:
            entry, body = bodies[key]
            try:
                self._mirror.mirror_spec(
                    body, commit=entry.origin.commit or "", path=entry.origin.path
                )
            except RolloutError as error:
                log.error("%s: spec not mirrored into the cluster: %s", key, error)

        fresh = set(new)
        for key in rollouts:
            if key not in fresh:
                mirror_one(key)
        with concurrent.futures.ThreadPoolExecutor(max_workers=MIRROR_WRITERS) as writers:
            list(writers.map(mirror_one, new))

    def retire(self, namespace: str, name: str) -> None:
        self._mirror.delete_mirror(namespace, name)

    def close(self) -> None:
        self._git.close()


class ClusterSpecSource:
    """:class:`rollout.ports.SpecSource` for Rollouts applied by others: only the policy
    files are read, from disk, at every sync."""

    def __init__(self, policy_paths: Sequence[str]) -> None:
        self._policy_paths = tuple(policy_paths)

    def sync(self) -> SpecSet:
        files, problems = collect_files(self._policy_paths)
        loaded = read_catalog(files)
        loaded.problems[:0] = problems
        listing = repr(sorted(files.items())).encode()
        return SpecSet(catalog=loaded, fingerprint=hashlib.sha256(listing).hexdigest())

    def publish(self, specs: SpecSet) -> None:
        return None  # the Rollouts are applied by Argo CD or Flux

    def retire(self, namespace: str, name: str) -> None:
        return None  # the Rollout belongs to whoever applied it

    def close(self) -> None:
        return None
