"""What Argo CD's ``ignoreDifferences`` leaves of an object, evaluated with the real jq.

Shared by the tests of the example Application (``examples/argocd/application.yaml``) over
the VirtualServices and over the HTTPRoute and its Services: the example objects and
rollout specs, the jq path expressions an entry gives for one object, the JSON pointers
they select (as Argo CD's normalizer removes them), the pointers a patch changes, and the
states a rollout's routing goes through (steps, a promotion, a next version and a rollback).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import jq
import jsonpatch
import jsonpointer
import yaml

from rollout.reconcile import routing_of
from rollout.spec.rollout import Rollout
from rollout.spec.routing import Routing
from rollout.state import RolloutState

REPO_ROOT = Path(__file__).resolve().parents[2]
APPLICATION = REPO_ROOT / "examples" / "argocd" / "application.yaml"
EXAMPLE_APP = REPO_ROOT / "examples" / "app"
EXAMPLE_ROLLOUTS = REPO_ROOT / "examples" / "rollouts"


def yaml_documents(directory: Path) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for path in sorted(directory.rglob("*.yaml")):
        found.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return found


def example_objects(kind: str) -> dict[str, dict[str, Any]]:
    """The example app's objects of ``kind`` by name, as the API server returns them (with
    a resourceVersion, which our patches test)."""
    found = {}
    for doc in yaml_documents(EXAMPLE_APP):
        if doc.get("kind") == kind:
            doc["metadata"]["resourceVersion"] = "1"
            found[doc["metadata"]["name"]] = doc
    return found


def ignore_expressions(group: str, kind: str, name: str) -> list[str]:
    """The jq path expressions the Application ignores on ``kind`` ``name`` in shop."""
    application = yaml.safe_load(APPLICATION.read_text())
    expressions: list[str] = []
    for entry in application["spec"]["ignoreDifferences"]:
        if (entry["group"], entry["kind"]) != (group, kind):
            continue
        if entry.get("name", name) == name and entry.get("namespace", "shop") == "shop":
            expressions.extend(entry.get("jqPathExpressions", []))
    return expressions


def ignored_pointers(obj: dict[str, Any], expressions: list[str]) -> set[str]:
    """JSON pointers of everything the expressions select in ``obj``, as Argo CD's
    normalizer removes them (jq ``path(EXPR)``)."""
    pointers: set[str] = set()
    for expression in expressions:
        for path in jq.compile(f"[path({expression})]").input_value(obj).first():
            pointers.add("".join(f"/{part}" for part in path))
    return pointers


def covered(pointer: str, ignored: set[str]) -> bool:
    return any(pointer == path or pointer.startswith(path + "/") for path in ignored)


def normalized(obj: dict[str, Any], expressions: list[str]) -> Any:
    """``obj`` without the ignored paths, as Argo CD compares desired and live."""
    program = "delpaths([" + ", ".join(f"path({e})" for e in expressions) + "])"
    return jq.compile(program).input_value(obj).first()


def changed_pointers(obj: dict[str, Any], operations: list[dict[str, Any]]) -> list[str]:
    """The pointers ``operations`` change, applied in order from ``obj``: an append
    (``/-``) names the new element's index."""
    pointers = []
    current = obj
    for operation in operations:
        path = operation["path"]
        if path.endswith("/-"):
            array = jsonpointer.resolve_pointer(current, path.removesuffix("/-"))
            path = f"{path.removesuffix('/-')}/{len(array)}"
        if operation["op"] != "test":
            pointers.append(path)
        current = jsonpatch.apply_patch(current, [operation])
    return pointers


def assert_changes_ignored(
    before: dict[str, Any], operations: list[dict[str, Any]], expressions: list[str]
) -> tuple[dict[str, Any], int]:
    """Apply ``operations`` to ``before``; every pointer they change is ignored before or
    after. Returns the patched object and how many pointers were checked."""
    after = jsonpatch.apply_patch(before, operations)
    ignored = ignored_pointers(before, expressions) | ignored_pointers(after, expressions)
    pointers = changed_pointers(before, operations)
    for pointer in pointers:
        assert covered(pointer, ignored), (before["metadata"]["name"], pointer)
    return after, len(pointers)


def rollout_specs() -> list[Rollout]:
    return [
        Rollout.model_validate(doc)
        for doc in yaml_documents(EXAMPLE_ROLLOUTS)
        if doc.get("kind") == "Rollout"
    ]


@dataclasses.dataclass(frozen=True)
class Moment:
    """One routing a rollout sets: the versions, the canary's weight, the managed routes."""

    stable: str
    canary: str | None
    weight: int
    routing: Routing


def lifecycle(rollout: Rollout) -> list[Moment]:
    """Every routing a rollout goes through: v1 -> v2 by the spec's steps (weights and the
    managed routes the steps call for) and a promotion, then v2 -> v3 at its first weight
    and a rollback."""

    def moment(stable: str, canary: str | None, step: int) -> Moment:
        weight = rollout.planned_weights()[step - 1] if canary else 0
        state = RolloutState(
            stable_version=stable, canary_version=canary, canary_weight=weight, step_index=step
        )
        return Moment(stable, canary, weight, routing_of(rollout, state))

    planned = rollout.planned_weights()
    steps = [step for step in range(1, len(planned) + 1) if planned[step - 1] < 100]
    first_weight = next(step for step in steps if planned[step - 1] > 0)
    return [
        *(moment("v1", "v2", step) for step in steps),
        moment("v2", None, 0),
        moment("v2", "v3", first_weight),
        moment("v2", None, 0),
    ]
