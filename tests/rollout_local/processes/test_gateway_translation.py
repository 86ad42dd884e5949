"""HTTPRoutes as the Istio objects that route the same way, for the embedded Envoy.

Inputs: HTTPRoute and Service documents as the API returns them. Outputs: the
VirtualServices (hosts, named http routes, matches, destinations by the version each
Service selects, weights, mirrors) and DestinationRules that ``envoy_config.translate``
turns into Envoy's configuration, and the warnings for what cannot be followed.
"""

from __future__ import annotations

from typing import Any

from rollout_local.processes import envoy_config
from rollout_local.processes.gateway_translation import as_istio

HOST = "checkout.demo.svc.cluster.local"


def service(name: str, version: str | None) -> dict[str, Any]:
    selector = {"app": "checkout"} | ({"version": version} if version else {})
    return {"metadata": {"name": name, "namespace": "demo"}, "spec": {"selector": selector}}


def http_route(*rules: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"name": "checkout", "namespace": "demo"},
        "spec": {"hostnames": ["checkout"], "rules": list(rules)},
    }


SERVICES = [service("checkout-primary", "v1"), service("checkout-canary", "v2")]


def test_weighted_backends_become_destinations_on_the_versions_the_services_select() -> None:
    rule = {
        "name": "primary",
        "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
        "backendRefs": [
            {"name": "checkout-primary", "port": 80, "weight": 70},
            {"name": "checkout-canary", "port": 80, "weight": 30},
        ],
    }
    found = as_istio([http_route(rule)], SERVICES)
    assert found.warnings == []
    assert found.virtual_services == [
        {
            "metadata": {"name": "httproute.checkout", "namespace": "demo"},
            "spec": {
                "hosts": ["checkout"],
                "http": [
                    {
                        "name": "primary",
                        "match": [{"uri": {"prefix": "/"}}],
                        "route": [
                            {"destination": {"host": HOST, "subset": "v1"}, "weight": 70},
                            {"destination": {"host": HOST, "subset": "v2"}, "weight": 30},
                        ],
                    }
                ],
            },
        }
    ]
    assert [rule["spec"] for rule in found.destination_rules] == [
        {"host": HOST, "subsets": [{"name": "v1"}, {"name": "v2"}]}
    ]
    resources = envoy_config.translate(
        found.virtual_services,
        found.destination_rules,
        {(HOST, "v1"): "127.0.0.1:1", (HOST, "v2"): "127.0.0.1:2"},
    )
    (route,) = resources.routes["virtual_hosts"][0]["routes"]
    assert route["route"]["weighted_clusters"]["clusters"] == [
        {"name": envoy_config.cluster_name(HOST, "v1"), "weight": 70},
        {"name": envoy_config.cluster_name(HOST, "v2"), "weight": 30},
    ]


def test_two_services_on_one_version_are_one_destination_and_weights_default_to_one() -> None:
    both_v2 = [service("checkout-primary", "v2"), service("checkout-canary", "v2")]
    rule = {"backendRefs": [{"name": "checkout-primary"}, {"name": "checkout-canary", "weight": 3}]}
    (virtual_service,) = as_istio([http_route(rule)], both_v2).virtual_services
    (http,) = virtual_service["spec"]["http"]
    assert http["name"] == "rule-0"
    assert http["route"] == [{"destination": {"host": HOST, "subset": "v2"}, "weight": 4}]


def test_header_matches_and_a_mirror_filter_are_carried_over() -> None:
    header_rule = {
        "name": "canary-header.demo.checkout",
        "matches": [
            {
                "path": {"type": "Exact", "value": "/cart"},
                "headers": [
                    {"type": "Exact", "name": "X-Canary", "value": "always"},
                    {"type": "RegularExpression", "name": "cookie", "value": ".*beta=yes.*"},
                ],
            }
        ],
        "backendRefs": [{"name": "checkout-canary"}],
    }
    mirrored = {
        "name": "primary",
        "filters": [
            {
                "type": "RequestMirror",
                "requestMirror": {
                    "backendRef": {"name": "checkout-canary"},
                    "fraction": {"numerator": 125, "denominator": 1000},
                },
            }
        ],
        "backendRefs": [{"name": "checkout-primary", "weight": 100}],
    }
    (virtual_service,) = as_istio([http_route(header_rule, mirrored)], SERVICES).virtual_services
    header, weighted = virtual_service["spec"]["http"]
    assert header["match"] == [
        {
            "uri": {"exact": "/cart"},
            "headers": {"x-canary": {"exact": "always"}, "cookie": {"regex": ".*beta=yes.*"}},
        }
    ]
    assert weighted["mirror"] == {"host": HOST, "subset": "v2"}
    assert weighted["mirrorPercentage"] == {"value": 12.5}


def test_what_cannot_be_followed_is_skipped_with_a_warning() -> None:
    rule = {
        "backendRefs": [
            {"name": "checkout-primary"},
            {"name": "legacy"},
            {"name": "unversioned"},
            {"name": "bucket", "kind": "Backend", "group": "example.com"},
        ]
    }
    found = as_istio(
        [http_route(rule), {"metadata": {"name": "nohost"}, "spec": {"rules": [rule]}}],
        [*SERVICES, service("unversioned", None)],
    )
    (virtual_service,) = found.virtual_services
    assert virtual_service["spec"]["http"][0]["route"] == [
        {"destination": {"host": HOST, "subset": "v1"}, "weight": 1}
    ]
    assert found.warnings == [
        "HTTPRoute demo/checkout rule 'rule-0': Service demo/legacy not found; skipped",
        "HTTPRoute demo/checkout rule 'rule-0': Service demo/unversioned selects no app and "
        "version; skipped",
        "HTTPRoute demo/checkout rule 'rule-0': a backend that is not a Service; skipped",
        "HTTPRoute default/nohost: no hostnames; skipped",
    ]
