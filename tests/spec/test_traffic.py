"""The traffic section: VirtualServices, HTTPRoutes or both, and what each needs.

Inputs: traffic documents. Outputs: the models accepted, or the validation error's message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydantic
import pytest
from click.testing import CliRunner

from rollout.cli.main import main
from rollout.spec.traffic import Traffic

ROUTE = {
    "name": "checkout",
    "stableService": "checkout-primary",
    "canaryService": "checkout-canary",
}


def traffic(**fields: Any) -> Traffic:
    return Traffic.model_validate({"host": "checkout.shop.svc.cluster.local", **fields})


def test_http_routes_alone_need_no_destination_rule() -> None:
    found = traffic(httpRoutes=[ROUTE])
    assert found.virtual_services == []
    assert found.destination_rule is None
    assert found.http_routes[0].canary_service == "checkout-canary"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "give at least one of virtualServices or httpRoutes"),
        ({"virtualServices": [{"name": "checkout"}]}, "virtualServices need a destinationRule"),
        ({"httpRoutes": [ROUTE, ROUTE]}, "an HTTPRoute is listed twice"),
        (
            {"httpRoutes": [ROUTE], "sessionAffinity": {}},
            "sessionAffinity is not supported on httpRoutes",
        ),
        (
            {"httpRoutes": [dict(ROUTE, canaryService="checkout-primary")]},
            "stableService and canaryService must be different Services",
        ),
    ],
)
def test_what_is_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        traffic(**fields)


def test_plan_names_each_route_object_and_its_router(tmp_path: Path) -> None:
    spec = tmp_path / "checkout.yaml"
    spec.write_text(
        """apiVersion: canary.rollout.dev/v1alpha1
kind: Rollout
metadata: {name: checkout, namespace: shop}
spec:
  version: v2
  traffic:
    host: checkout
    destinationRule: checkout
    virtualServices: [{name: checkout-mesh}]
    httpRoutes:
      - {name: checkout, stableService: checkout-primary, canaryService: checkout-canary}
"""
    )
    result = CliRunner().invoke(main, ["plan", str(spec)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1] == (
        "routes: VirtualService shop/checkout-mesh (Istio); "
        "HTTPRoute shop/checkout (Gateway API, checkout-primary -> checkout-canary)"
    )
