"""The pure planning behind the Istio router: host matching and the shape of the patch.

Inputs: VirtualService documents and targets (stable and canary subsets, a weight).
Outputs: whether hosts match, the JSON patch operations (guarded by a resourceVersion test
first, a test before every replace or remove, nothing when the weights are in place), and
the problems for routes that cannot be managed. The patch is applied with ``jsonpatch`` to
show what the server would store.
"""

from __future__ import annotations

import jsonpatch
import pytest

from rollout.mesh.istio_routes import Target, plan_weights, same_host
from tests.mesh.objects import HOST, NAMESPACE, PRIMARY, mesh_virtual_service, subset_weights


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        ("checkout", HOST, True),
        ("checkout.shop", HOST, True),
        ("checkout.shop.svc", HOST, True),
        (HOST, HOST, True),
        ("checkout", "checkout.web.svc.cluster.local", False),
        ("payments", HOST, False),
        ("checkout.example.com", HOST, False),
    ],
)
def test_same_host(first: str, second: str, same: bool) -> None:
    assert same_host(first, second, NAMESPACE) is same


def target(canary: str | None = "v2", weight: int = 5, stable: str = "v1") -> Target:
    return Target(
        host=HOST,
        namespace=NAMESPACE,
        stable_subset=stable,
        canary_subset=canary,
        canary_weight=weight,
    )


def with_version(document: dict[str, object], version: str) -> dict[str, object]:
    metadata = dict(document["metadata"])  # type: ignore[call-overload]
    metadata["resourceVersion"] = version
    return {**document, "metadata": metadata}


def test_the_patch_is_guarded_and_applies_cleanly() -> None:
    document = with_version(mesh_virtual_service(), "42")
    plan = plan_weights(document, ["primary"], target())

    assert plan.problems == []
    operations = plan.operations
    assert operations[0] == {"op": "test", "path": "/metadata/resourceVersion", "value": "42"}
    for index, operation in enumerate(operations):
        if operation["op"] in ("replace", "remove"):
            previous = operations[index - 1]
            assert previous["op"] == "test" and operation["path"].startswith(previous["path"])
    patched = jsonpatch.apply_patch(document, operations)
    assert subset_weights(patched["spec"]["http"][PRIMARY]) == {"v1": 95, "v2": 5}
    assert plan_weights(patched, ["primary"], target()).operations == []


def test_a_lone_destination_without_subset_is_adopted_as_stable() -> None:
    document = with_version(mesh_virtual_service(), "7")
    del document["spec"]["http"][PRIMARY]["route"][0]["destination"]["subset"]  # type: ignore[index]
    plan = plan_weights(document, ["primary"], target(weight=20))

    patched = jsonpatch.apply_patch(document, plan.operations)

    assert subset_weights(patched["spec"]["http"][PRIMARY]) == {"v1": 80, "v2": 20}
    changed = {op["path"] for op in plan.operations if op["op"] != "test"}
    assert changed == {
        f"/spec/http/{PRIMARY}/route/0/destination/subset",
        f"/spec/http/{PRIMARY}/route/0/weight",
        f"/spec/http/{PRIMARY}/route/-",
    }


def test_an_unknown_stable_among_several_subsets_is_a_problem() -> None:
    document = with_version(mesh_virtual_service(), "7")
    route = document["spec"]["http"][PRIMARY]["route"]  # type: ignore[index]
    route[0]["destination"]["subset"] = "v0"
    route[0]["weight"] = 50
    route[1] = {"destination": {"host": HOST, "subset": "v9"}, "weight": 50}

    plan = plan_weights(document, ["primary"], target())

    assert plan.operations == []
    assert plan.problems == [
        "route 'primary': cannot tell the stable destination: no subset 'v1' and several "
        f"destinations for {HOST} (subsets 'v0', 'v9')"
    ]


def test_ending_a_rollout_removes_every_other_subset_of_the_host() -> None:
    document = with_version(mesh_virtual_service(), "9")
    route = document["spec"]["http"][PRIMARY]["route"]  # type: ignore[index]
    route[0]["weight"] = 70
    route.append({"destination": {"host": HOST, "subset": "v2"}, "weight": 20})
    route.append({"destination": {"host": HOST, "subset": "v3"}, "weight": 10})

    plan = plan_weights(document, ["primary"], target(canary=None, weight=0))
    patched = jsonpatch.apply_patch(document, plan.operations)

    assert subset_weights(patched["spec"]["http"][PRIMARY]) == {"v1": 100}
    removes = [op["path"] for op in plan.operations if op["op"] == "remove"]
    assert removes == [f"/spec/http/{PRIMARY}/route/3", f"/spec/http/{PRIMARY}/route/2"]


RECORD_KEY = "state.canary.rollout.dev/shop.checkout"
RECORD_POINTER = "/metadata/annotations/state.canary.rollout.dev~1shop.checkout"


def with_record(value: str, **weights: int) -> Target:
    return Target(
        host=HOST,
        namespace=NAMESPACE,
        stable_subset="v1",
        canary_subset="v2",
        canary_weight=weights.get("weight", 5),
        record=(RECORD_KEY, value),
    )


def test_the_record_rides_in_the_weights_patch_and_alone_only_when_it_changed() -> None:
    document = with_version(mesh_virtual_service(), "42")
    plan = plan_weights(document, ["primary"], with_record('{"a":1}'))
    assert plan.operations[0]["path"] == "/metadata/resourceVersion"
    assert {"op": "add", "path": RECORD_POINTER, "value": '{"a":1}'} in plan.operations
    moved = jsonpatch.apply_patch(document, plan.operations)
    assert moved["metadata"]["annotations"][RECORD_KEY] == '{"a":1}'
    assert moved["metadata"]["annotations"]["owner"] == "payments@example.com"

    assert plan_weights(moved, ["primary"], with_record('{"a":1}')).operations == []
    changed = plan_weights(moved, ["primary"], with_record('{"a":2}')).operations
    assert changed == [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "42"},
        {"op": "test", "path": RECORD_POINTER, "value": '{"a":1}'},
        {"op": "replace", "path": RECORD_POINTER, "value": '{"a":2}'},
    ]


def test_a_virtual_service_without_annotations_gets_them_with_the_record() -> None:
    document = with_version(mesh_virtual_service(), "7")
    del document["metadata"]["annotations"]  # type: ignore[attr-defined]
    plan = plan_weights(document, ["primary"], with_record("{}"))
    moved = jsonpatch.apply_patch(document, plan.operations)
    assert moved["metadata"]["annotations"] == {RECORD_KEY: "{}"}
