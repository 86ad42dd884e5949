"""Policies: strict template rendering, parameter overrides and thresholds."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from rollout.errors import TemplateError
from rollout.source.files import shipped_policies
from rollout.spec.policy import Policy, render, resolve


def policy(**spec: Any) -> Policy:
    return Policy.model_validate(
        {
            "apiVersion": "canary.rollout.dev/v1alpha1",
            "kind": "Policy",
            "metadata": {"name": "p"},
            "spec": spec,
        }
    )


def test_render_fills_placeholders() -> None:
    assert render('up{job="{{ job }}"}', {"job": "api"}) == 'up{job="api"}'
    assert render("{{job}}-{{ job }}", {"job": "x"}) == "x-x"


def test_render_refuses_unknown_and_malformed_placeholders() -> None:
    with pytest.raises(TemplateError, match="did you mean 'namespace'"):
        render("{{ namspace }}", {"namespace": "shop"})
    with pytest.raises(TemplateError, match="malformed"):
        render("{{ name with spaces }}", {"name": "x"})


def test_resolve_merges_overrides_and_thresholds() -> None:
    ratio = policy(
        type="ratio",
        params={"maxErrorRatio": 0.01},
        errors="sum(errors{ns='{{ namespace }}'})",
        total="sum(total{ns='{{ namespace }}'})",
        max="{{ maxErrorRatio }}",
    )
    resolved = resolve(ratio, {"maxErrorRatio": 0.05})
    assert resolved.thresholds == {"max": 0.05}
    queries = resolved.queries_for({"namespace": "shop"})
    assert queries["errors"] == "sum(errors{ns='shop'})"


def test_resolve_refuses_unknown_override_and_non_numeric_threshold() -> None:
    value = policy(type="value", params={"limit": "many"}, query="sum(up)", max="{{ limit }}")
    with pytest.raises(TemplateError, match="not a number") as caught:
        resolve(value, {})
    assert caught.value.field == "max"
    assert caught.value.param == "limit"
    with pytest.raises(TemplateError, match="no parameter 'limt'"):
        resolve(value, {"limt": 3})


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({"type": "ratio", "errors": "a"}, "needs total"),
        ({"type": "value", "query": "a"}, "needs min, max or both"),
        ({"type": "latency", "slow": "a"}, "both slow and total"),
        ({"type": "latency", "quantile": "a"}, "needs maxMs"),
        ({"type": "value", "query": "a", "max": 1, "slow": "b"}, "does not belong"),
        ({"type": "histogram", "query": "a"}, "literal_error"),
    ],
)
def test_policy_fields_must_match_type(spec: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError) as caught:
        policy(**spec)
    assert fragment in str(caught.value) or fragment in repr(caught.value.errors())


def test_shipped_policies_render_with_their_defaults() -> None:
    names = {p.name for p in shipped_policies()}
    assert {"istio-error-ratio", "istio-latency-p99", "istio-slow-request-ratio"} <= names
    for shipped in shipped_policies():
        resolved = resolve(shipped, {})
        for query in resolved.queries_for(
            {
                "namespace": "shop",
                "service": "checkout",
                "workload": "checkout-v2",
                "version": "v2",
                "subset": "v2",
                "window": "5m",
                "interval": "30s",
            }
        ).values():
            assert "{{" not in query
            assert "istio_request" in query
