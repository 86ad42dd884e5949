"""One Lease per shard: which shards this replica holds, through one elector each.

:mod:`rollout.shards` says which shard a rollout is in and which shards a replica prefers;
this module competes for the shard Leases with :class:`rollout.kube.lease.LeaderElector`,
one per shard, with the same timings and guarantees as the single leader Lease: a holder
stops acting at its renew deadline, before anyone else may take over; a crashed replica's
shards are taken over once their Leases expire (``lease_duration`` after the last renew);
``on_lost`` runs before a shard's Lease is released. A replica takes its preferred shards
at once and asks for them back when another holds them; it takes another's shards only
once their Lease is expired, or free for ``lease_duration`` (patience), so the replica that
prefers a free shard gets it first. With one shard this is exactly the single leader Lease.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from rollout.kube.lease import LeaderElector
from rollout.shards import ShardPlan, lease_name

__all__ = ["ShardElection"]

log = logging.getLogger(__name__)


class ShardElection:
    """Compete for every shard Lease of ``plan`` as ``identity``."""

    def __init__(
        self,
        api_client: Any,
        namespace: str,
        base_name: str,
        identity: str,
        plan: ShardPlan,
        *,
        on_gained: Callable[[int], None],
        on_lost: Callable[[int], None],
        lease_duration: int = 15,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
    ) -> None:
        self.plan = plan
        sharded = plan.shards > 1
        self._electors = {
            shard: LeaderElector(
                api_client,
                namespace,
                lease_name(base_name, shard, plan.shards),
                identity,
                lease_duration=lease_duration,
                renew_deadline=renew_deadline,
                retry_period=retry_period,
                on_started_leading=functools.partial(on_gained, shard),
                on_stopped_leading=functools.partial(on_lost, shard),
                patience=0.0 if plan.prefers(shard) else float(lease_duration),
                reclaim=sharded and plan.prefers(shard),
            )
            for shard in range(plan.shards)
        }

    def start(self) -> None:
        for elector in self._electors.values():
            elector.start()

    def stop(self, *, release: bool = True) -> None:
        """Stop competing; each held shard is given up (``on_lost``) and then released."""
        for elector in self._electors.values():
            elector.stop(release=release)

    def holds(self, shard: int) -> bool:
        """Whether this replica holds ``shard``'s Lease and is within its renew deadline."""
        elector = self._electors.get(shard)
        return elector is not None and elector.is_leader

    def held(self) -> frozenset[int]:
        return frozenset(shard for shard, e in self._electors.items() if e.is_leader)
