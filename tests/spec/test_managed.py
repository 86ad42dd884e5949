"""Managed versions in the Rollout spec: defaults, mistakes, canary sizes and the plan.

Inputs: ``spec.workload.managed`` bodies. Outputs under test: the defaults, the refusal of
an image without ``{version}`` and of a bad count, the canary's replicas for each weight
(its share, rounded up, never below the minimum; of an autoscaler's replicas when one sizes
the stable), and the plan's lines about them.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from rollout.spec.plan import plan
from tests.rollouts import make_rollout


def managed(**extra: Any) -> dict[str, Any]:
    return {
        "managed": {"template": "checkout-template", "image": "shop/checkout:{version}", **extra}
    }


def test_defaults() -> None:
    spec = make_rollout("v2", workload=managed()).spec.workload.managed
    assert spec is not None
    assert (spec.replicas, spec.min_replicas, spec.keep_stable, spec.scale_down_delay) == (
        2,
        1,
        "10m",
        0,
    )
    assert spec.container is None
    assert make_rollout("v2").spec.workload.managed is None  # made by hand unless asked


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ({"image": "shop/checkout:latest"}, "must contain {version}"),
        ({"replicas": 0}, "greater than or equal to 1"),
        ({"minReplicas": 0}, "greater than or equal to 1"),
        ({"keepStable": "a while"}, "expected a duration"),
        ({"template": "Checkout"}, "not a valid name"),
        ({"replica": 3}, "Extra inputs are not permitted"),
        ({"autoscaler": "Checkout_HPA"}, "not a valid name"),
    ],
)
def test_mistakes_are_refused(extra: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        make_rollout("v2", workload=managed(**extra))


def test_the_canary_gets_its_share_rounded_up_and_never_below_the_minimum() -> None:
    spec = make_rollout("v2", workload=managed(replicas=10, minReplicas=2)).spec.workload.managed
    assert spec is not None
    sizes = {weight: spec.canary_replicas(weight) for weight in (0, 1, 10, 25, 50, 100)}
    assert sizes == {0: 2, 1: 2, 10: 2, 25: 3, 50: 5, 100: 10}
    autoscaled = {weight: spec.canary_replicas(weight, 7) for weight in (10, 50, 100)}
    assert autoscaled == {10: 2, 50: 4, 100: 7}


def test_the_plan_shows_how_versions_are_made_and_sized() -> None:
    rollout = make_rollout("v2", workload=managed(replicas=4, keepStable="30m"))
    lines = plan(rollout).lines()
    shown = lines[lines.index("managed versions:") + 1 :]
    assert shown == [
        "  each version's Deployment (checkout-<version>) is made from checkout-template with "
        "the image shop/checkout:{version}",
        "  stable: 4 replicas; canary replicas by weight (10%: 1, 50%: 2, 100%: 4), at least 1; "
        "a raise waits until they are ready",
        "  after a promotion the old stable keeps its replicas for 30m (an abort within it puts "
        "the traffic back on it), then is scaled to 0; "
        "a rolled-back canary is scaled to 0 after 0s",
    ]


def test_the_plan_says_an_autoscaler_sizes_the_stable() -> None:
    rollout = make_rollout("v2", workload=managed(replicas=4, autoscaler="checkout"))
    lines = plan(rollout).lines()
    assert (
        "  stable: sized by the HorizontalPodAutoscaler checkout, whose target is moved to "
        "each new stable before the old one is scaled down; canary replicas: the weight's "
        "share of the stable's, at least 1 (of 4: 10%: 1, 50%: 2, 100%: 4); a raise waits "
        "until they are ready"
    ) in lines
