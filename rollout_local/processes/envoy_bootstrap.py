"""The bootstrap of the embedded stack's Envoy: one listener, routes and clusters from files.

Envoy starts from this document (``bootstrap.yaml``): an admin endpoint and one HTTP listener
on ``127.0.0.1`` (ports chosen by the kernel), whose routes come from ``rds.yaml`` (RDS) and
clusters from ``cds.yaml`` (CDS), both ``path_config_source`` files in a
``watched_directory``, so a renamed file is a new configuration. The stats tags keep
Istio-style cluster names whole in ``/stats/prometheus``, as Istio's own bootstrap does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rollout_local.processes import envoy_config

__all__ = ["LISTENER_STAT_PREFIX", "STATS_TAGS", "bootstrap"]

# Istio's own bootstrap uses this regex so that cluster names with dots stay whole.
STATS_TAGS = [
    {
        "tag_name": "envoy.cluster_name",
        "regex": r"^cluster\.((.+?(\..+?\.svc\.cluster\.local)?)\.)",
    },
    {"tag_name": "envoy.response_code", "regex": r"_rq(_(\d{3}))$"},
    {"tag_name": "envoy.response_code_class", "regex": r"_rq_(\d)xx$"},
    {"tag_name": "envoy.http_conn_manager_prefix", "regex": r"^http\.((.*?)\.)"},
    {
        "tag_name": "envoy.listener_address",
        "regex": r"^listener\.(((?:[_.\d]*|[_\[\]a-fA-F\d]*))\.)",
    },
]
LISTENER_STAT_PREFIX = "ingress"
ROUTER_TYPE = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"


def bootstrap(*, config_dir: Path, stats_flush_interval: float) -> dict[str, Any]:
    """The bootstrap as a dict; the xDS files are ``cds.yaml`` and ``rds.yaml`` in
    ``config_dir``."""
    watched = {"path": str(config_dir)}

    def file_source(name: str) -> dict[str, Any]:
        return {
            "resource_api_version": "V3",
            "path_config_source": {
                "path": str(config_dir / name),
                "watched_directory": watched,
            },
        }

    connection_manager = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network."
        "http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": LISTENER_STAT_PREFIX,
        "strip_any_host_port": True,
        "rds": {
            "route_config_name": envoy_config.ROUTE_CONFIG_NAME,
            "config_source": file_source("rds.yaml"),
        },
        "http_filters": [
            {
                "name": "envoy.filters.http.router",
                "typed_config": {"@type": ROUTER_TYPE},
            }
        ],
    }
    return {
        "node": {"id": "rollout-local", "cluster": "rollout-local"},
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
        "stats_config": {"use_all_default_tags": False, "stats_tags": STATS_TAGS},
        "stats_flush_interval": f"{stats_flush_interval:.3f}s",
        "dynamic_resources": {"cds_config": file_source("cds.yaml")},
        "static_resources": {
            "listeners": [
                {
                    "name": "outbound",
                    "address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}},
                    "filter_chains": [
                        {
                            "filters": [
                                {
                                    "name": "envoy.filters.network.http_connection_manager",
                                    "typed_config": connection_manager,
                                }
                            ]
                        }
                    ],
                }
            ]
        },
    }
