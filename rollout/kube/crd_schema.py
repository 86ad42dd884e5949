"""The Rollout CustomResourceDefinition, generated from the pydantic spec model.

``manifests/crd.yaml`` must say exactly what :mod:`rollout.spec.rollout` accepts, so it is
generated rather than written: ``python -m rollout.kube.crd_schema`` rewrites it, and
``--check`` (run by the tests) fails when it is out of date.

Pydantic's JSON Schema is turned into a Kubernetes *structural* schema: ``$ref`` inlined,
``anyOf [X, null]`` as ``nullable``, ``anyOf [string, integer]`` (durations) as
``x-kubernetes-int-or-string``, other unions as ``x-kubernetes-preserve-unknown-fields``,
``exclusiveMinimum: n`` as OpenAPI 3.0's ``minimum: n, exclusiveMinimum: true``, and no
``default``s (the API server would apply them and the mirrored spec would never match
Git). Status is the controller's own record: ``x-kubernetes-preserve-unknown-fields``.

What the model checks in code and a schema cannot say is added as CEL rules
(``x-kubernetes-validations``), so the API server refuses at admission what ``rollout
validate`` refuses: a step with none or several of ``setWeight``/``pause``/``analyze``/
``setHeaderRoute``/``setMirror`` (an
unknown step kind is pruned to nothing, so it is refused too), weights that decrease, no
steps; alert targets and hooks are lists keyed by ``name``, so a duplicate name is refused
as well.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from rollout import API_GROUP, API_VERSION
from rollout.spec.rollout import RolloutSpec

__all__ = ["CRD_NAME", "SHORT_NAMES", "main", "render", "rollout_crd", "structural_schema"]

JsonObject = dict[str, Any]

CRD_NAME = f"rollouts.{API_GROUP}"
SHORT_NAMES = ["crollout", "crollouts"]
DEFAULT_OUTPUT = Path("manifests/crd.yaml")

_KEPT = (
    "type",
    "format",
    "enum",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "required",
)
_HEADER = (
    "# The Rollout CustomResourceDefinition (canary.rollout.dev/v1alpha1).\n"
    "# Generated from rollout/spec/rollout.py by `python -m rollout.kube.crd_schema`;\n"
    "# do not edit by hand.\n"
)


def _resolve(node: JsonObject, definitions: JsonObject) -> JsonObject:
    reference = node.get("$ref")
    if not isinstance(reference, str):
        return node
    target = definitions[reference.rsplit("/", 1)[-1]]
    merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return _resolve(merged, definitions)


def _convert(node: JsonObject, definitions: JsonObject) -> JsonObject:
    node = _resolve(node, definitions)
    result: JsonObject = {}
    if isinstance(node.get("description"), str):
        result["description"] = " ".join(node["description"].split())
    branches = node.get("anyOf")
    if isinstance(branches, list):
        resolved = [_resolve(b, definitions) for b in branches]
        present = [b for b in resolved if b.get("type") != "null"]
        if len(present) != len(resolved):
            result["nullable"] = True
        types = sorted(str(b.get("type")) for b in present)
        if len(present) == 1:
            inner = _convert(present[0], definitions)
            inner.pop("description", None)
            return {**inner, **result}
        if types == ["integer", "string"]:
            result["x-kubernetes-int-or-string"] = True
            return result
        result["x-kubernetes-preserve-unknown-fields"] = True
        return result
    for key in _KEPT:
        if key in node:
            result[key] = node[key]
    for bound, inclusive in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(node.get(bound), int | float) and not isinstance(node[bound], bool):
            result[inclusive] = node[bound]
            result[bound] = True
    if isinstance(node.get("properties"), dict):
        result["properties"] = {
            name: _convert(child, definitions) for name, child in node["properties"].items()
        }
    additional = node.get("additionalProperties")
    if isinstance(additional, dict):
        result["additionalProperties"] = _convert(additional, definitions)
    if isinstance(node.get("items"), dict):
        result["items"] = _convert(node["items"], definitions)
    if "const" in node:
        result["enum"] = [node["const"]]
    return result


def structural_schema(model: type[BaseModel]) -> JsonObject:
    """A Kubernetes structural schema for a pydantic model (camelCase field names)."""
    schema = model.model_json_schema(by_alias=True, mode="validation")
    definitions = schema.pop("$defs", {})
    return _convert(schema, definitions)


_STEP_RULES = [
    {
        "rule": (
            "[has(self.setWeight), has(self.pause), has(self.analyze), "
            "has(self.setHeaderRoute), has(self.setMirror)].exists_one(x, x)"
        ),
        "message": (
            "each step needs exactly one of setWeight, pause, analyze, setHeaderRoute or setMirror"
        ),
    }
]
_STEPS_RULES = [
    {
        "rule": "self.filter(s, has(s.setWeight)).map(s, s.setWeight).isSorted()",
        "message": "weights never decrease: each setWeight is at least the previous one",
    }
]


def _add_admission_rules(spec_schema: JsonObject) -> None:
    """The checks the model makes in code, as CEL rules and list types the server enforces."""
    properties = spec_schema["properties"]
    steps = properties["steps"]
    steps["minItems"] = 1
    steps["x-kubernetes-validations"] = _STEPS_RULES
    steps["items"]["x-kubernetes-validations"] = _STEP_RULES
    for keyed_by_name in (properties["alerts"], properties["hooks"]):
        keyed_by_name["x-kubernetes-list-type"] = "map"
        keyed_by_name["x-kubernetes-list-map-keys"] = ["name"]


def _column(name: str, type_: str, path: str, description: str) -> JsonObject:
    return {"name": name, "type": type_, "jsonPath": path, "description": description}


def rollout_crd() -> JsonObject:
    """The whole CRD document."""
    spec_schema = structural_schema(RolloutSpec)
    _add_admission_rules(spec_schema)
    spec_schema["description"] = (
        "What version should be live and how to get there: traffic objects, steps, "
        "analysis policies and alerts."
    )
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME},
        "spec": {
            "group": API_GROUP,
            "names": {
                "kind": "Rollout",
                "listKind": "RolloutList",
                "plural": "rollouts",
                "singular": "rollout",
                "shortNames": list(SHORT_NAMES),
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": API_VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        _column("Version", "string", ".spec.version", "The desired version."),
                        _column("Stable", "string", ".status.stableVersion", "The stable version."),
                        _column("Phase", "string", ".status.phase", "Where the rollout stands."),
                        _column(
                            "Weight",
                            "integer",
                            ".status.canaryWeight",
                            "Percent of traffic on the canary.",
                        ),
                        _column("Age", "date", ".metadata.creationTimestamp", "Age."),
                    ],
                    "schema": {
                        "openAPIV3Schema": {
                            "description": "A progressive rollout of one service, from Git.",
                            "type": "object",
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec_schema,
                                "status": {
                                    "description": "The controller's record of the rollout.",
                                    "type": "object",
                                    "x-kubernetes-preserve-unknown-fields": True,
                                },
                            },
                        }
                    },
                }
            ],
        },
    }


def render() -> str:
    """The CRD as the YAML text of ``manifests/crd.yaml``."""
    body = yaml.safe_dump(rollout_crd(), sort_keys=False, default_flow_style=False, width=100)
    return _HEADER + body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rollout.kube.crd_schema", description="Write the Rollout CRD."
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when the file is not up to date"
    )
    options = parser.parse_args(argv)
    text = render()
    output: Path = options.output
    if options.check:
        current = output.read_text(encoding="utf-8") if output.is_file() else ""
        if current != text:
            print(
                f"{output} is out of date: run python -m rollout.kube.crd_schema", file=sys.stderr
            )
            return 1
        return 0
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
