"""The interpreter settings ``rollout run`` applies to itself.

Inputs: the process's environment and its garbage collector. Outputs: whether the malloc
arenas were capped, the collector's thresholds, and the objects frozen out of its passes,
each put back afterwards so the rest of the test session runs with the defaults.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from rollout.cli.process_tuning import (
    GC_THRESHOLDS,
    freeze_startup_objects,
    limit_malloc_arenas,
    tune_garbage_collector,
)


@pytest.fixture
def collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_the_controller_caps_the_malloc_arenas_unless_the_operator_did(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert limit_malloc_arenas() is True  # glibc, as in the controller's image
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_malloc_arenas() is False


def test_the_young_generation_is_collected_every_ten_thousand_allocations(
    collector: None,
) -> None:
    tune_garbage_collector()
    assert gc.get_threshold() == GC_THRESHOLDS == (10_000, 50, 20)
    assert gc.isenabled()  # cycles are still collected, less often


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def test_objects_alive_at_start_are_frozen_and_later_cycles_still_collected(
    collector: None,
) -> None:
    kept = Node()
    frozen = freeze_startup_objects()
    assert frozen > 1000 and gc.get_freeze_count() == frozen
    assert not any(obj is kept for gen in range(3) for obj in gc.get_objects(gen))
    # a cycle made after the freeze is garbage the collector still finds
    first, second = Node(), Node()
    first.other, second.other = second, first
    del first, second
    assert gc.collect() >= 2
