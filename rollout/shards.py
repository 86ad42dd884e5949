"""Which replica runs which rollout: rollouts hashed to shards, shards preferred by replicas.

With one replica nothing here matters: one shard, one Lease, the leader runs everything.
With ``shards`` > 1 each shard is a ``coordination.k8s.io`` Lease of its own
(``<lease-name>-<shard>``), a rollout belongs to the shard its key hashes to, and only the
replica holding a shard's Lease syncs, mirrors and reconciles that shard's rollouts - one
writer per rollout, as with one leader. Each replica *prefers* the shards ``i`` with
``i % replicas == ordinal`` (its StatefulSet ordinal): it takes those at once and asks a
holder to hand them back, while it takes another replica's shard only once that shard's
Lease has been free for a while, so the survivors share a dead replica's shards and a
replica that comes back gets its own again.

Pure: no I/O, no clock. The hash is SHA-256, so every replica and every Python agrees
(``hash()`` is salted per process).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re

__all__ = ["ShardPlan", "lease_name", "ordinal_of", "shard_of"]

_ORDINAL = re.compile(r"-(\d+)$")


def shard_of(key: str, shards: int) -> int:
    """The shard of the rollout ``namespace/name``, in ``range(shards)``."""
    if shards < 1:
        raise ValueError("shards must be at least 1")
    digest = hashlib.sha256(key.encode()).digest()
    return int.from_bytes(digest[:8], "big") % shards


def lease_name(base: str, shard: int, shards: int) -> str:
    """The Lease of ``shard``: the plain leader-election Lease when there is only one."""
    return base if shards == 1 else f"{base}-{shard}"


def ordinal_of(identity: str) -> int | None:
    """The ordinal at the end of a StatefulSet pod name (``rollout-controller-2`` -> 2)."""
    found = _ORDINAL.search(identity)
    return int(found.group(1)) if found else None


@dataclasses.dataclass(frozen=True)
class ShardPlan:
    """How many shards, how many replicas are meant to share them, and which one we are."""

    shards: int = 1
    replicas: int = 1
    ordinal: int = 0

    def __post_init__(self) -> None:
        if self.shards < 1 or self.replicas < 1:
            raise ValueError("shards and replicas must be at least 1")
        if not 0 <= self.ordinal < self.replicas:
            raise ValueError(f"the replica ordinal must be in 0..{self.replicas - 1}")

    def prefers(self, shard: int) -> bool:
        """Whether this replica takes ``shard`` at once (others wait until it is free)."""
        return shard % self.replicas == self.ordinal

    def shard_of(self, key: str) -> int:
        return shard_of(key, self.shards)
