"""Rollouts hashed to shards, and the shards each replica prefers.

Inputs: rollout keys, shard counts, replica plans and StatefulSet-style identities.
Outputs: a shard in range that is the same in every process (SHA-256, not ``hash()``), a
spread over the shards, every shard preferred by exactly one replica, Lease names, and
plans that cannot work refused.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest

from rollout.shards import ShardPlan, lease_name, ordinal_of, shard_of


def test_a_key_has_the_same_shard_in_every_process() -> None:
    key = "shop/checkout"
    other = subprocess.run(
        [sys.executable, "-c", f"from rollout.shards import shard_of; print(shard_of({key!r}, 7))"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(other.stdout) == shard_of(key, 7)


def test_keys_spread_over_every_shard() -> None:
    counts = Counter(shard_of(f"shop/svc-{n:05d}", 6) for n in range(3000))
    assert set(counts) == set(range(6))
    assert min(counts.values()) > 3000 / 6 * 0.8  # 500 expected each; a binomial sd is ~20


def test_every_shard_is_preferred_by_exactly_one_replica() -> None:
    plans = [ShardPlan(shards=7, replicas=3, ordinal=k) for k in range(3)]
    for shard in range(7):
        assert sum(plan.prefers(shard) for plan in plans) == 1


def test_one_shard_keeps_the_single_leader_lease_name() -> None:
    assert lease_name("rollout-controller", 0, 1) == "rollout-controller"
    assert lease_name("rollout-controller", 2, 3) == "rollout-controller-2"


def test_the_ordinal_is_read_from_a_statefulset_pod_name() -> None:
    assert ordinal_of("rollout-controller-2") == 2
    assert ordinal_of("vm-host") is None


@pytest.mark.parametrize("shards, replicas, ordinal", [(0, 1, 0), (3, 0, 0), (3, 3, 3), (3, 2, -1)])
def test_a_plan_that_cannot_work_is_refused(shards: int, replicas: int, ordinal: int) -> None:
    with pytest.raises(ValueError):
        ShardPlan(shards=shards, replicas=replicas, ordinal=ordinal)
    if shards == 0:
        with pytest.raises(ValueError):
            shard_of("shop/a", shards)
