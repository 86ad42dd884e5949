"""The test-side RBAC evaluator decides as the Kubernetes authorizer does.

Inputs: small roles and bindings, and calls. Outputs under test: allowed or not, for
group, resource and subresource, verb, wildcards, resourceNames (never matching a create
or a list), Role versus ClusterRole scope, and bindings to other subjects ignored.
"""

from __future__ import annotations

from typing import Any

from kubelite import RequestRecord
from tests.manifests import rbac


def documents(rules: list[dict[str, Any]], *, namespaced: str = "") -> list[dict[str, Any]]:
    kind = "Role" if namespaced else "ClusterRole"
    meta: dict[str, Any] = {"name": "r"}
    if namespaced:
        meta["namespace"] = namespaced
    binding_meta = dict(meta, name="b")
    subject = {"kind": "ServiceAccount", "name": "sa", "namespace": "ns"}
    return [
        {"kind": kind, "metadata": meta, "rules": rules},
        {
            "kind": f"{kind}Binding",
            "metadata": binding_meta,
            "roleRef": {"kind": kind, "name": "r"},
            "subjects": [subject],
        },
    ]


def allowed(docs: list[dict[str, Any]], call: rbac.Call) -> bool:
    return bool(rbac.matching_grants(rbac.grants_for(docs, account="sa", namespace="ns"), call))


def test_group_resource_and_verb_must_all_match() -> None:
    docs = documents([{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"]}])
    assert allowed(docs, rbac.Call("apps", "deployments", "get", "shop", "web"))
    assert not allowed(docs, rbac.Call("", "deployments", "get", "shop", "web"))
    assert not allowed(docs, rbac.Call("apps", "deployments", "list", "shop"))
    assert not allowed(docs, rbac.Call("apps", "deployments/status", "get", "shop", "web"))


def test_subresources_and_wildcards() -> None:
    docs = documents([{"apiGroups": ["*"], "resources": ["*/status"], "verbs": ["*"]}])
    assert allowed(docs, rbac.Call("x.io", "things/status", "update", "a", "b"))
    assert not allowed(docs, rbac.Call("x.io", "things", "update", "a", "b"))
    everything = documents([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}])
    assert allowed(everything, rbac.Call("x.io", "things/status", "patch", "a", "b"))


def test_resource_names_need_a_named_request() -> None:
    docs = documents(
        [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["s1"], "verbs": ["*"]}]
    )
    assert allowed(docs, rbac.Call("", "secrets", "get", "shop", "s1"))
    assert not allowed(docs, rbac.Call("", "secrets", "get", "shop", "s2"))
    assert not allowed(docs, rbac.Call("", "secrets", "list", "shop"))
    create = RequestRecord(
        method="POST", path="/api/v1/namespaces/shop/secrets", verb="create", resource="secrets",
        namespace="shop", name="s1",
    )  # fmt: skip
    assert not allowed(docs, rbac.call_of(create))


def test_a_role_only_applies_in_its_namespace() -> None:
    docs = documents(
        [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get"]}],
        namespaced="home",
    )
    assert allowed(docs, rbac.Call("coordination.k8s.io", "leases", "get", "home", "l"))
    assert not allowed(docs, rbac.Call("coordination.k8s.io", "leases", "get", "other", "l"))


def test_bindings_to_other_subjects_grant_nothing() -> None:
    docs = documents([{"apiGroups": [""], "resources": ["events"], "verbs": ["create"]}])
    docs[1]["subjects"] = [{"kind": "ServiceAccount", "name": "sa", "namespace": "elsewhere"}]
    assert not allowed(docs, rbac.Call("", "events", "create", "shop"))


def test_call_of_a_logged_status_update() -> None:
    record = RequestRecord(
        method="PUT", path="/apis/canary.rollout.dev/v1alpha1/namespaces/shop/rollouts/c/status",
        verb="update", group="canary.rollout.dev", version="v1alpha1", resource="rollouts",
        namespace="shop", name="c", subresource="status",
    )  # fmt: skip
    assert rbac.call_of(record) == rbac.Call(
        "canary.rollout.dev", "rollouts/status", "update", "shop", "c"
    )
