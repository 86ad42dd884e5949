"""The Kubernetes adapter: the only place that imports the kubernetes client."""
