"""Traffic routers: move weights between stable and canary (Istio VirtualServices)."""
