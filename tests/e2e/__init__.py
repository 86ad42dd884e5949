"""End-to-end tests: the controller against the local API server, a real Prometheus, real Git
and a real webhook receiver."""
