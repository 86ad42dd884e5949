"""The VirtualService/DestinationRule translator: Istio objects in, Envoy RDS and CDS out.

Inputs are plain dicts shaped as the Kubernetes API returns them; outputs are the route
configuration (virtual hosts, matches, weighted clusters) and the clusters, with
Istio-style names, plus the warnings for what had to be skipped.
"""

from __future__ import annotations

import logging

import pytest

from rollout_local.processes import envoy_config
from tests.rollout_local.istio_objects import HOST, destination_rule, virtual_service
from tests.rollout_local.istio_objects import weighted_route as weighted

BACKENDS = {(HOST, "v1"): "127.0.0.1:18081", (HOST, "v2"): "127.0.0.1:18082"}


def test_weights_become_weighted_clusters_with_istio_cluster_names() -> None:
    resources = envoy_config.translate(
        [virtual_service(weighted("primary", ("v1", 80), ("v2", 20)))],
        [destination_rule("v1", "v2")],
        BACKENDS,
    )
    (virtual_host,) = resources.routes["virtual_hosts"]
    assert {"checkout", HOST, "checkout.demo"} <= set(virtual_host["domains"])
    (route,) = virtual_host["routes"]
    assert route["name"] == "primary"
    assert route["match"] == {"prefix": "/"}
    assert route["route"]["weighted_clusters"]["clusters"] == [
        {"name": f"outbound|80|v1|{HOST}", "weight": 80},
        {"name": f"outbound|80|v2|{HOST}", "weight": 20},
    ]
    assert resources.cluster_names() == [f"outbound|80|v1|{HOST}", f"outbound|80|v2|{HOST}"]
    cluster = resources.clusters[1]
    assert cluster["@type"] == envoy_config.CLUSTER_TYPE
    assert cluster["type"] == "STATIC"
    endpoint = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    assert endpoint["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": 18082}
    assert resources.routes["name"] == envoy_config.ROUTE_CONFIG_NAME
    assert resources.warnings == []


def test_a_single_destination_without_weight_takes_all_traffic() -> None:
    route = {"name": "primary", "route": [{"destination": {"host": HOST, "subset": "v1"}}]}
    resources = envoy_config.translate(
        [virtual_service(route)], [destination_rule("v1", "v2")], BACKENDS
    )
    envoy_route = resources.routes["virtual_hosts"][0]["routes"][0]
    assert envoy_route["route"] == {"cluster": f"outbound|80|v1|{HOST}"}
    # Every defined subset with a backend gets a cluster, so its statistics exist early.
    assert len(resources.clusters) == 2


def test_zero_weight_destinations_are_kept_so_weights_are_absolute() -> None:
    resources = envoy_config.translate(
        [virtual_service(weighted("primary", ("v1", 100), ("v2", 0)))],
        [destination_rule("v1", "v2")],
        BACKENDS,
    )
    clusters = resources.routes["virtual_hosts"][0]["routes"][0]["route"]["weighted_clusters"]
    assert [c["weight"] for c in clusters["clusters"]] == [100, 0]


def test_a_subset_missing_from_the_destination_rule_is_skipped_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger=envoy_config.__name__):
        resources = envoy_config.translate(
            [virtual_service(weighted("primary", ("v1", 90), ("v3", 10)))],
            [destination_rule("v1", "v2")],
            BACKENDS,
        )
    envoy_route = resources.routes["virtual_hosts"][0]["routes"][0]
    assert envoy_route["route"] == {"cluster": f"outbound|80|v1|{HOST}"}
    assert any("'v3'" in warning for warning in resources.warnings)
    assert "'v3'" in caplog.text


def test_a_subset_without_backend_is_skipped_and_a_route_left_empty_answers_503() -> None:
    resources = envoy_config.translate(
        [virtual_service(weighted("primary", ("v2", 100)))],
        [destination_rule("v1", "v2")],
        {(HOST, "v1"): "127.0.0.1:18081"},
    )
    envoy_route = resources.routes["virtual_hosts"][0]["routes"][0]
    assert envoy_route["direct_response"]["status"] == 503
    assert resources.cluster_names() == [f"outbound|80|v1|{HOST}"]
    assert any("no backend address" in warning for warning in resources.warnings)


def test_uri_and_header_matches_become_one_envoy_route_each_in_order() -> None:
    canary_only = weighted("canary-header", ("v2", 100))
    canary_only["match"] = [
        {"headers": {"X-Canary": {"exact": "yes"}}, "uri": {"prefix": "/api"}},
        {"uri": {"exact": "/canary"}},
    ]
    resources = envoy_config.translate(
        [virtual_service(canary_only, weighted("primary", ("v1", 50), ("v2", 50)))],
        [destination_rule("v1", "v2")],
        BACKENDS,
    )
    routes = resources.routes["virtual_hosts"][0]["routes"]
    assert [route["name"] for route in routes] == ["canary-header", "canary-header", "primary"]
    assert routes[0]["match"] == {
        "prefix": "/api",
        "headers": [{"name": "x-canary", "string_match": {"exact": "yes"}}],
    }
    assert routes[1]["match"] == {"path": "/canary"}
    assert routes[2]["match"] == {"prefix": "/"}


def test_ports_and_hostname_backends() -> None:
    route = {
        "name": "primary",
        "route": [{"destination": {"host": HOST, "subset": "v1", "port": {"number": 8080}}}],
    }
    resources = envoy_config.translate(
        [virtual_service(route)], [destination_rule("v1")], {(HOST, "v1"): "localhost:18081"}
    )
    assert f"outbound|8080|v1|{HOST}" in resources.cluster_names()
    assert all(cluster["type"] == "STRICT_DNS" for cluster in resources.clusters)


def test_a_host_claimed_twice_is_routed_by_the_first_virtual_service_only() -> None:
    first = virtual_service(weighted("primary", ("v1", 100)))
    second = virtual_service(weighted("primary", ("v2", 100)))
    second["metadata"]["name"] = "checkout-copy"
    resources = envoy_config.translate([second, first], [destination_rule("v1", "v2")], BACKENDS)
    assert [vh["name"] for vh in resources.routes["virtual_hosts"]] == ["demo.checkout"]
    assert any("already routed" in warning for warning in resources.warnings)


@pytest.mark.parametrize(
    ("host", "namespace", "expected"),
    [
        ("checkout", "demo", "checkout.demo.svc.cluster.local"),
        ("checkout.demo.svc.cluster.local", "other", "checkout.demo.svc.cluster.local"),
        ("api.example.com", "demo", "api.example.com"),
    ],
)
def test_short_host_names_are_qualified_with_the_namespace(
    host: str, namespace: str, expected: str
) -> None:
    assert envoy_config.qualify_host(host, namespace) == expected


def test_cluster_names_round_trip() -> None:
    name = envoy_config.cluster_name(HOST, "v2", 80)
    assert name == f"outbound|80|v2|{HOST}"
    assert envoy_config.parse_cluster_name(name) == (80, "v2", HOST)
    assert envoy_config.parse_cluster_name("local_service") is None


def test_a_malformed_backend_address_is_refused() -> None:
    with pytest.raises(ValueError, match="host:port"):
        envoy_config.BackendAddress.parse("127.0.0.1")


def test_a_mirror_and_its_percentage_become_a_request_mirror_policy() -> None:
    route = weighted("primary", ("v1", 100), ("v2", 0))
    route["mirror"] = {"host": "checkout", "subset": "v2"}
    route["mirrorPercentage"] = {"value": 12.5}
    resources = envoy_config.translate(
        [virtual_service(route)], [destination_rule("v1", "v2")], BACKENDS
    )
    action = resources.routes["virtual_hosts"][0]["routes"][0]["route"]
    assert action["request_mirror_policies"] == [
        {
            "cluster": f"outbound|80|v2|{HOST}",
            "runtime_fraction": {"default_value": {"numerator": 125_000, "denominator": "MILLION"}},
        }
    ]
    del route["mirrorPercentage"]  # Istio mirrors everything when no percentage is given
    resources = envoy_config.translate(
        [virtual_service(route)], [destination_rule("v1", "v2")], BACKENDS
    )
    action = resources.routes["virtual_hosts"][0]["routes"][0]["route"]
    fraction = action["request_mirror_policies"][0]["runtime_fraction"]["default_value"]
    assert fraction["numerator"] == 1_000_000


def test_response_headers_to_add_follow_their_destination() -> None:
    cookie = {"headers": {"response": {"add": {"Set-Cookie": "version=v2; Path=/"}}}}
    route = weighted("primary", ("v1", 90), ("v2", 10))
    route["route"][1].update(cookie)
    single = {
        "name": "sticky",
        "match": [{"headers": {"cookie": {"regex": "^version=v2$"}}}],
        "route": [{"destination": {"host": "checkout", "subset": "v2"}, **cookie}],
    }
    resources = envoy_config.translate(
        [virtual_service(single, route)], [destination_rule("v1", "v2")], BACKENDS
    )
    sticky, primary = resources.routes["virtual_hosts"][0]["routes"]
    added = [
        {
            "header": {"key": "Set-Cookie", "value": "version=v2; Path=/"},
            "append_action": "APPEND_IF_EXISTS_OR_ADD",
        }
    ]
    clusters = primary["route"]["weighted_clusters"]["clusters"]
    assert "response_headers_to_add" not in clusters[0]
    assert clusters[1]["response_headers_to_add"] == added
    assert sticky["response_headers_to_add"] == added
    assert sticky["match"]["headers"] == [
        {"name": "cookie", "string_match": {"safe_regex": {"regex": "^version=v2$"}}}
    ]
