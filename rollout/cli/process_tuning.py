"""How ``rollout run`` sets up its interpreter for one long-lived, many-threaded process.

The defaults of glibc's allocator and of CPython's cyclic garbage collector suit short
scripts. The controller is one process holding a few hundred megabytes of plain JSON
(informer caches, Prometheus answers, analysis states) and running 32 workers that each
decode and drop large answers. Measured at 1,000 rollouts in progress
(``docs/scaling.md``):

- each thread that allocates at the same moment gets a malloc arena of its own, which
  keeps the memory freed in it: capped at two (``limit_malloc_arenas``);
- the cyclic collector's full pass walked every tracked object, about 0.55 s with the
  interpreter held, every 5 s or so: the workers' in-flight temporaries, promoted by the
  collections of the young generation (every 700 allocations), counted as growth of the
  old one and kept triggering it. Reference counting frees nearly all of this JSON (it
  holds no cycles); the collector is kept for what does, and ``tune_garbage_collector``
  makes it collect the young generation every 10,000 allocations and the old ones far
  less often, and ``freeze_startup_objects`` leaves the objects alive once the controller
  has started (modules, schemas, the first caches) out of its passes for good.
"""

from __future__ import annotations

import ctypes
import gc
import os

__all__ = [
    "GC_THRESHOLDS",
    "MALLOC_ARENAS",
    "freeze_startup_objects",
    "limit_malloc_arenas",
    "tune_garbage_collector",
]

M_ARENA_MAX = -8
"""glibc's ``mallopt`` parameter for the most malloc arenas."""

MALLOC_ARENAS = 2
"""Malloc arenas the controller's threads share."""

GC_THRESHOLDS = (10_000, 50, 20)
"""``gc.set_threshold``: the young generation is collected every 10,000 net allocations
of tracked objects (CPython's default is 700), the middle one every 50 of those (10), the
old one every 20 of those at most (10), and then only once it grew by a quarter."""


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Cap glibc's malloc arenas; whether it was done.

    glibc gives threads that allocate at the same time arenas of their own, up to eight per
    core, and each keeps the memory freed in it. The controller's workers decode large
    answers (batch queries naming every workload, watch events) in whichever thread asks,
    so at 1,000 rollouts in progress the default arenas held about a tenth of the process's
    memory (303 MB against 280 MB with two: ``docs/scaling.md``). The interpreter's own
    small objects are not affected. Nothing is done where ``MALLOC_ARENA_MAX`` is set (the
    operator's choice stands) or the C library has no ``mallopt`` (not glibc).
    """
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_ARENA_MAX, arenas))


def tune_garbage_collector(thresholds: tuple[int, int, int] = GC_THRESHOLDS) -> None:
    """Collect cycles less often (see the module docstring); before the workers start."""
    gc.set_threshold(*thresholds)


def freeze_startup_objects() -> int:
    """Collect once, then leave every object alive now out of later collections; how many.

    Called once the controller has started. Frozen objects are still freed by reference
    counting when dropped; only a cycle among them would outlive its use, and what exists
    at start (modules, classes, settings, caches) lives as long as the process.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
