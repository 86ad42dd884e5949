"""The thin wrappers through which the adapters reach the Kubernetes API.

``client.py`` builds the official client from a kubeconfig; ``errors.py`` turns its
exceptions into the project's own; ``informer.py`` and ``object_cache.py`` keep a kind in
memory by list+watch. The state store and readiness (``rollout.kube``) and the router
(``rollout.mesh``) stand on them, so neither adapter needs the other.
"""
