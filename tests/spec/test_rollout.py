"""The Rollout model: defaults, name rules, templates, steps and alert targets."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from rollout.spec.rollout import Rollout


def spec(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "version": "v2",
        "traffic": {
            "host": "checkout.shop.svc.cluster.local",
            "destinationRule": "checkout",
            "virtualServices": [{"name": "checkout"}],
        },
    }
    body.update(overrides)
    return {
        "apiVersion": "canary.rollout.dev/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "checkout", "namespace": "shop"},
        "spec": body,
    }


def test_defaults_are_a_complete_rollout() -> None:
    rollout = Rollout.model_validate(spec())
    assert rollout.key == "shop/checkout"
    assert rollout.deployment_for("v3") == "checkout-v3"
    assert rollout.subset_for("v3") == "v3"
    # the default steps end at 50%: promotion to 100% follows a promotable verdict
    assert rollout.planned_weights() == [1, 1, 10, 10, 50, 50]
    assert rollout.interval_seconds > 0
    assert rollout.progress_deadline_seconds == 600
    assert [ref.name for ref in rollout.spec.analysis.policies] == [
        "istio-error-ratio",
        "istio-slow-request-ratio",
    ]


def test_templates_map_versions_to_names() -> None:
    rollout = Rollout.model_validate(
        spec(service="cart", workload={"deployment": "cart-app-{version}", "subset": "s-{version}"})
    )
    assert rollout.deployment_for("v9") == "cart-app-v9"
    assert rollout.subset_for("v9") == "s-v9"


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"steps": [{"setWeight": 30}, {"setWeight": 10}]}, "weights never decrease"),
        ({"steps": [{"setWeight": 101}]}, "less than or equal to 100"),
        ({"steps": [{"setWeight": 10, "pause": {}}]}, "exactly one of"),
        ({"steps": []}, "at least one step"),
        ({"steps": [{"pause": {"duration": "5 minutes"}}]}, "expected a duration"),
        ({"workload": {"subset": "stable"}}, "must contain {version}"),
        ({"workload": {"subset": "{ver}"}}, "unknown placeholder {ver}"),
        ({"progressDeadline": "ten"}, "expected a duration"),
        ({"analysis": {"significance": 0.9}}, "less than 0.5"),
        ({"version": "v2 beta"}, "pattern"),
    ],
)
def test_invalid_specs_are_refused(overrides: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Rollout.model_validate(spec(**overrides))
    assert fragment in str(caught.value)


def test_names_follow_dns_1123() -> None:
    body = spec()
    body["metadata"]["name"] = "Checkout_Service"
    with pytest.raises(ValidationError, match="DNS-1123"):
        Rollout.model_validate(body)


def test_unknown_fields_are_errors() -> None:
    with pytest.raises(ValidationError, match="extra"):
        Rollout.model_validate(spec(canaryWeight=5))


def test_alert_urls_are_never_inline_by_default() -> None:
    inline = {"name": "team", "type": "slack", "url": {"value": "https://hooks.example/T/B/x"}}
    with pytest.raises(ValidationError, match="secret in Git"):
        Rollout.model_validate(spec(alerts=[inline]))
    allowed = Rollout.model_validate(spec(alerts=[{**inline, "allowInlineUrl": True}]))
    assert allowed.spec.alerts[0].url.value == "https://hooks.example/T/B/x"


def test_alert_url_needs_exactly_one_source() -> None:
    target = {
        "name": "team",
        "type": "webhook",
        "url": {"env": "HOOK_URL", "secretRef": {"name": "hooks"}},
    }
    with pytest.raises(ValidationError, match="exactly one of"):
        Rollout.model_validate(spec(alerts=[target]))


def test_steps_keep_kind_and_weights() -> None:
    rollout = Rollout.model_validate(
        spec(steps=[{"setWeight": 10}, {"pause": {}}, {"analyze": {"duration": "2m"}}])
    )
    assert [step.kind for step in rollout.spec.steps] == ["setWeight", "pause", "analyze"]
    assert rollout.planned_weights() == [10, 10, 10]
