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
        ({"type": "ratio", "errors": "a", "total": "b", "podErrors": "c"}, "need both podErrors"),
        ({"type": "ratio", "errors": "a", "total": "b", "podSampled": "c"}, "need both podErrors"),
        ({"type": "ratio", "errors": "a", "total": "b", "podSlow": "c"}, "does not belong"),
        (
            {"type": "latency", "quantile": "a", "maxMs": 1, "podSlow": "b", "podTotal": "c"},
            "locate the requests that slow and total count",
        ),
        ({"type": "value", "query": "a", "max": 1, "podTotal": "b"}, "does not belong"),
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


def test_per_pod_queries_are_templates_checked_like_the_others() -> None:
    ratio = policy(
        type="ratio",
        errors="sum(e)",
        total="sum(t)",
        podErrors='sum by (pod) (e{w="{{ workload }}"})',
        podTotal='sum by (pod) (t{w="{{ workload }}"})',
        podSampled='max by (pod) (timestamp(t{w="{{ workload }}"}))',
    )
    resolved = resolve(ratio, {})
    assert {"pod_errors", "pod_total", "pod_sampled"} <= set(resolved.templates)
    assert (
        resolved.queries_for({"workload": "api-v2"})["pod_total"] == 'sum by (pod) (t{w="api-v2"})'
    )
    broken = policy(
        type="ratio", errors="sum(e)", total="sum(t)", podErrors="sum(e)", podTotal="{{ wrkload }}"
    )
    with pytest.raises(TemplateError, match="did you mean 'workload'") as caught:
        resolve(broken, {})
    assert caught.value.field == "podTotal"


def test_the_shipped_count_policies_read_where_requests_were_served_per_destination_pod() -> None:
    by_name = {shipped.name: shipped.spec for shipped in shipped_policies()}
    for name, bad in (
        ("istio-error-ratio", "pod_errors"),
        ("istio-slow-request-ratio", "pod_slow"),
    ):
        templates = by_name[name].templates()
        for field in (bad, "pod_total", "pod_sampled"):
            assert 'reporter="destination"' in templates[field], (name, field)
        assert 'reporter="{{ reporter }}"' in templates["total"]
