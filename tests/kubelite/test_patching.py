"""Patch semantics without a server: merge patch and strategic merge patch as kubectl sends.

Inputs: current objects and patch documents. Outputs: the patched objects, and the errors
for content types a resource does not accept.
"""

from __future__ import annotations

import pytest

from kubelite import patching, status
from kubelite.resources import BUILTIN_RESOURCES

DEPLOYMENTS = next(r for r in BUILTIN_RESOURCES if r.plural == "deployments")


def test_merge_patch_merges_objects_and_null_deletes() -> None:
    current = {"spec": {"a": 1, "b": {"c": 2, "d": 3}}, "keep": [1, 2]}
    patched = patching.apply_merge_patch(current, {"spec": {"a": None, "b": {"c": 5}}, "keep": [3]})
    assert patched == {"spec": {"b": {"c": 5, "d": 3}}, "keep": [3]}


def test_strategic_merge_patch_merges_containers_by_name_with_directives() -> None:
    current = {
        "metadata": {"finalizers": ["a"]},
        "spec": {
            "containers": [
                {"name": "app", "image": "v1", "ports": [{"containerPort": 80}]},
                {"name": "sidecar", "image": "s1"},
            ],
            "tolerations": [{"key": "x"}],
        },
    }
    patch = {
        "metadata": {"finalizers": ["b"]},
        "spec": {
            "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "app"}],
            "containers": [
                {"name": "app", "image": "v2", "ports": [{"containerPort": 81}]},
                {"name": "sidecar", "$patch": "delete"},
            ],
            "tolerations": [{"key": "y"}],
        },
    }
    patched = patching.apply_strategic_merge_patch(current, patch)
    assert patched["metadata"]["finalizers"] == ["a", "b"]
    assert patched["spec"]["containers"] == [
        {"name": "app", "image": "v2", "ports": [{"containerPort": 80}, {"containerPort": 81}]}
    ]
    assert patched["spec"]["tolerations"] == [{"key": "y"}]


def test_strategic_merge_patch_replace_and_retain_keys() -> None:
    current = {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}}
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    assert patching.apply_strategic_merge_patch(current, patch) == {
        "spec": {"strategy": {"type": "Recreate"}}
    }
    replaced = patching.apply_strategic_merge_patch(
        {"data": {"a": "1", "b": "2"}}, {"data": {"$patch": "replace", "c": "3"}}
    )
    assert replaced == {"data": {"c": "3"}}


def test_patch_content_types() -> None:
    patch = patching.patch_function(
        DEPLOYMENTS,
        "application/strategic-merge-patch+json; charset=utf-8",
        b'{"spec": {"replicas": 3}}',
    )
    assert patch({"spec": {"replicas": 1}}) == {"spec": {"replicas": 3}}
    with pytest.raises(status.ApiError) as raised:
        patching.patch_function(DEPLOYMENTS, "application/json", b"{}")
    assert raised.value.code == 415
    with pytest.raises(status.ApiError) as raised:
        patching.patch_function(DEPLOYMENTS, patching.JSON_PATCH, b'{"op": "add"}')
    assert raised.value.code == 400
    with pytest.raises(status.ApiError) as raised:
        patching.patch_function(DEPLOYMENTS, patching.MERGE_PATCH, b"[]")
    assert (raised.value.code, raised.value.reason) == (400, "BadRequest")
