"""The embedded stack for the demo and the tests: a local Kubernetes API server, a mesh
agent feeding the real Envoy, demo services, a load generator and Prometheus wiring."""
