"""A rollout of ``checkout`` for the tests of the decision core and the coordinator."""

from __future__ import annotations

from typing import Any

from rollout.spec.rollout import Rollout

__all__ = ["make_rollout"]


def make_rollout(version: str = "v1", **spec: Any) -> Rollout:
    """A rollout of checkout at ``version``; ``spec`` overrides fields of the spec."""
    body: dict[str, Any] = {
        "version": version,
        "traffic": {
            "host": "checkout",
            "destinationRule": "checkout",
            "virtualServices": [{"name": "checkout"}],
        },
        "steps": [
            {"setWeight": 10},
            {"analyze": {"duration": "30s"}},
            {"setWeight": 50},
            {"pause": {"duration": "20s"}},
            {"setWeight": 100},
        ],
        "analysis": {"maxInconclusive": 3},
        "alerts": [{"name": "team", "type": "slack", "url": {"env": "SLACK_URL"}}],
    }
    body.update(spec)
    return Rollout.model_validate(
        {
            "apiVersion": "canary.rollout.dev/v1alpha1",
            "kind": "Rollout",
            "metadata": {"name": "checkout", "namespace": "shop"},
            "spec": body,
        }
    )
