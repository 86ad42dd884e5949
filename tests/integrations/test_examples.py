"""The example spec repository is complete and consistent with the app it moves.

Inputs: ``examples/`` (rollout specs, custom policies, the app's manifests), the real
``kubectl kustomize`` and ``kubectl apply``, the local API server, ``rollout validate``
and the real Istio and Gateway API routers. Outputs under test: every spec and policy is
valid with the custom policies of each kind used; the app builds and applies; and for
every rollout the router finds its VirtualServices, named routes and DestinationRule
subsets (or its HTTPRoute and the two Services), and a Deployment per version, with no
problem.
"""

from __future__ import annotations

from pathlib import Path

import kubernetes
import yaml

from rollout.kube.readiness import deployment_readiness
from rollout.mesh.combined import CombinedRouter
from rollout.mesh.gateway import GatewayRouter
from rollout.mesh.istio import IstioRouter
from rollout.source import files as spec_files
from rollout.spec import catalog
from tests.kube_clients import Kubectl, kustomize

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "examples"


def load_examples() -> catalog.Catalog:
    files, problems = spec_files.collect_files([str(EXAMPLES)])
    loaded = spec_files.read_catalog(files)
    assert problems == [] and loaded.problems == []
    return loaded


def test_specs_and_a_custom_policy_of_each_kind() -> None:
    loaded = load_examples()
    assert set(loaded.rollouts) == {
        "shop/catalog",
        "shop/checkout",
        "shop/payments",
        "shop/recommendations",
    }
    custom = {name: policy for name, (policy, origin) in loaded.policies.items() if origin}
    assert {policy.spec.type for policy in custom.values()} == {"ratio", "latency", "value"}
    used = {
        ref.name
        for entry in loaded.rollouts.values()
        for ref in entry.rollout.spec.analysis.policies
    }
    assert set(custom) <= used, "every example policy is used by an example rollout"
    payments = loaded.rollouts["shop/payments"].rollout
    assert any(step.kind == "pause" and step.pause and not step.pause.duration
               for step in payments.spec.steps)  # fmt: skip


def test_the_app_builds_applies_and_matches_every_spec(
    kubectl: Kubectl, api_client: kubernetes.client.ApiClient
) -> None:
    built = kustomize(EXAMPLES / "app")
    applied = kubectl("apply", "-f", "-", stdin=built)
    documents = [doc for doc in yaml.safe_load_all(built) if doc]
    assert applied.stdout.count(" created") == len(documents)
    router = CombinedRouter(IstioRouter(api_client), GatewayRouter(api_client))
    for key, entry in load_examples().rollouts.items():
        rollout = entry.rollout
        assert router.check(rollout, "v1", "v2") == [], key
        managed = rollout.spec.workload.managed
        # a managed rollout's new versions are made from its template by the controller
        names = [rollout.deployment_for("v1")]
        names.append(managed.template if managed else rollout.deployment_for("v2"))
        for name in names:
            found = deployment_readiness(api_client, rollout.namespace, name)
            assert "not found" not in found.message, found.message
        secrets = {
            target.url.secret_ref.name
            for target in rollout.spec.alerts
            if target.url.secret_ref is not None
        }
        assert secrets == {"rollout-alerts"}  # the one name the controller's RBAC can read
    gateway = next(d for d in documents if d["metadata"]["name"] == "checkout-gateway")
    assert "checkout-api" in [route.get("name") for route in gateway["spec"]["http"]]
