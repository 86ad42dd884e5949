"""The server processes the embedded stack owns, and the configuration each one reads.

:mod:`.child_process` starts and stops any of them; :mod:`.envoy_proxy` runs the real Envoy
with the routes :mod:`.envoy_config` translates from Istio objects; :mod:`.prometheus_server`
runs the real Prometheus with the :mod:`.recording_rules` that present Envoy's statistics as
Istio's metrics.
"""
