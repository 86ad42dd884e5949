"""A GitOps progressive-delivery controller.

It reads rollout specs from Git, shifts Istio VirtualService weights step by step, judges
each step against Prometheus SLOs with sequential statistics, and rolls back on breach.

The package reads like the architecture: the pure decision core (``spec``, ``state``,
``analysis``, ``decide``), adapters behind small Protocols (``mesh``, ``metrics``,
``notify``, ``kube``, ``source``), one coordinator (``reconcile``), the ``scheduler``, the
``server`` and the ``cli``. The embedded stack the demo and the tests use lives beside the
package, in ``rollout_local`` and ``kubelite``; nothing here imports either.
"""

from __future__ import annotations

__version__ = "0.1.0"

API_GROUP = "canary.rollout.dev"
API_VERSION = "v1alpha1"
GROUP_VERSION = f"{API_GROUP}/{API_VERSION}"

__all__ = ["API_GROUP", "API_VERSION", "GROUP_VERSION", "__version__"]
