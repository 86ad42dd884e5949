"""A plain rollout of one service of the ``shop`` namespace, for the analyzer's tests
against the real Prometheus (the batch and the look-back tests name a few services)."""

from __future__ import annotations

from typing import Any

from rollout.spec.rollout import Rollout

__all__ = ["shop_rollout"]


def shop_rollout(name: str, **spec: Any) -> Rollout:
    """Service ``name`` of ``shop`` at v2, with the default steps and policies unless
    ``spec`` overrides fields of the spec."""
    return Rollout.model_validate(
        {
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {
                "version": "v2",
                "traffic": {
                    "host": f"{name}.shop.svc.cluster.local",
                    "virtualServices": [{"name": name}],
                    "destinationRule": name,
                },
                **spec,
            },
        }
    )
