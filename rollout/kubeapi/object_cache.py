"""A list+watch cache that answers only once its first list is in, for the adapters' reads.

The adapters (the state store, the Istio router, the readiness probe) read through one of
these while the controller leads: ``get`` gives the cached object, or None when the cache is
not running, not synced yet or does not have it, and the adapter then asks the server;
``lookup`` also says whether the cache could answer, for adapters that treat a synced
cache as the truth (an object missing from it does not exist, as informers have it).
What a write returns is put in with ``remember``, so the writer's next read sees it before
its watch event arrives. The list+watch itself is :class:`rollout.kubeapi.informer.Informer`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rollout.kubeapi.informer import ChangeHandler, Informer

__all__ = ["ObjectCache"]

JsonObject = dict[str, Any]


class ObjectCache:
    """Objects of one kind in memory between ``start`` and ``stop``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._informer: Informer | None = None

    @property
    def running(self) -> bool:
        return self._informer is not None

    def start(
        self, list_call: Callable[..., Any], *, on_change: ChangeHandler | None = None
    ) -> None:
        """List and watch with ``list_call`` (all namespaces, or one); waits for the list."""
        if self._informer is None:
            informer = Informer(list_call, name=self.name, on_change=on_change)
            self._informer = informer.start()

    def stop(self) -> None:
        informer, self._informer = self._informer, None
        if informer is not None:
            informer.stop()

    def _synced(self) -> Informer | None:
        informer = self._informer
        return informer if informer is not None and informer.synced.is_set() else None

    def get(self, namespace: str, name: str) -> JsonObject | None:
        informer = self._synced()
        return None if informer is None else informer.get(namespace, name)

    def lookup(self, namespace: str, name: str) -> tuple[bool, JsonObject | None]:
        """(True, the object or None when it does not exist) once synced; (False, None)
        when the cache cannot say (not running, or its first list not in yet)."""
        informer = self._synced()
        return (False, None) if informer is None else (True, informer.get(namespace, name))

    def items(self, namespace: str | None) -> list[JsonObject] | None:
        informer = self._synced()
        return None if informer is None else informer.items(namespace)

    def remember(self, obj: JsonObject) -> None:
        """What a write returned, so the next read sees it before its watch event."""
        if self._informer is not None and obj.get("metadata"):
            self._informer.remember(obj)
