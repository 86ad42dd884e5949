"""The server processes the embedded stack owns, and the configuration each one reads.

:mod:`.server_process` is what both runners share (working directory, log, readiness wait,
clean stop) on top of :mod:`.child_process`; :mod:`.envoy_proxy` runs the real Envoy from
the :mod:`.envoy_bootstrap` with the routes :mod:`.envoy_config` translates from Istio
objects; :mod:`.prometheus_server` runs the real Prometheus with the :mod:`.recording_rules`
that present Envoy's statistics as Istio's metrics.
"""
