"""Hostile YAML that the spec reader must refuse cleanly, shared by the spec tests, the Git
source tests, the fuzzer and the end-to-end test.

The Hypothesis strategies build spec files of every kind a repository may hold against
its owners' will: mutations of a real spec (characters that mean something to YAML put
in, taken out or swapped; lines repeated; indentation changed), exponential and
recursive aliases, merge-key chains, deep nesting, huge and impossible scalars, unknown
tags, random values where a spec expects others, and bytes that are not text.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import strategies as st

REPO_ROOT = Path(__file__).resolve().parents[2]
VALID_SPEC = (REPO_ROOT / "examples" / "rollouts" / "checkout.yaml").read_text()
ANCHOR_SPEC = """\
apiVersion: canary.rollout.dev/v1alpha1
kind: Rollout
metadata: {name: anchor, namespace: fuzz}
spec:
  version: v2
  traffic:
    host: anchor.fuzz.svc.cluster.local
    destinationRule: anchor
    virtualServices: [{name: anchor}]
  steps: [{setWeight: 50}, {analyze: {duration: 1m}}, {setWeight: 100}]
  analysis:
    policies: [{name: istio-error-ratio}]
"""
"""A small valid spec no generated file can redefine: it must be read whatever lies beside."""
ANCHOR_KEY = "fuzz/anchor"


def billion_laughs(levels: int = 9, width: int = 10) -> str:
    """The classic exponential-alias file: ``width ** levels`` values from a few lines."""
    lines = ['a0: &a0 "lol"']
    for level in range(1, levels + 1):
        aliases = ", ".join([f"*a{level - 1}"] * width)
        lines.append(f"a{level}: &a{level} [{aliases}]")
    return "\n".join(lines) + "\n"


_HEADER = "apiVersion: canary.rollout.dev/v1alpha1\nkind: Rollout\n"
RECURSIVE_ALIAS = f"{_HEADER}spec: &loop [*loop]\n"
"""A document whose ``spec`` contains itself (line 3)."""

YAML_SIGNIFICANT = "&*!|>-:?[]{},#'\"\n \t%@`<=~.\\0123456789aeyntrul\x00\x1b\x85\u2028\u202e\ufeff"


def _mutate(text: str, operations: list[tuple[str, int, str]]) -> str:
    for operation, position, fragment in operations:
        at = position % (len(text) + 1)
        if operation == "insert":
            text = text[:at] + fragment + text[at:]
        elif operation == "delete":
            text = text[:at] + text[at + len(fragment) + 1 :]
        elif operation == "replace":
            text = text[:at] + fragment + text[at + len(fragment) :]
        else:
            lines = text.splitlines(keepends=True) or [""]
            index = position % len(lines)
            changed = lines[index] * 2 if operation == "repeat" else " " + lines[index]
            text = "".join([*lines[:index], changed, *lines[index + 1 :]])
    return text


def mutated_specs() -> st.SearchStrategy[str]:
    """A real spec with a few YAML-significant edits."""
    operation = st.tuples(
        st.sampled_from(["insert", "delete", "replace", "repeat", "indent"]),
        st.integers(min_value=0, max_value=len(VALID_SPEC)),
        st.text(alphabet=YAML_SIGNIFICANT, min_size=1, max_size=8),
    )
    return st.lists(operation, min_size=1, max_size=8).map(lambda ops: _mutate(VALID_SPEC, ops))


@st.composite
def _merge_chain(draw: st.DrawFn) -> str:
    levels = draw(st.integers(min_value=1, max_value=40))
    fan = draw(st.integers(min_value=1, max_value=4))
    lines = ["m0: &m0 {x: 1}"]
    for level in range(1, levels + 1):
        sources = ", ".join([f"*m{level - 1}"] * fan)
        lines.append(f"m{level}: &m{level} {{<<: [{sources}], k{level}: {level}}}")
    return "\n".join(lines) + "\n"


@st.composite
def _deep(draw: st.DrawFn) -> str:
    depth = draw(st.integers(min_value=1, max_value=3000))
    if draw(st.booleans()):
        return "spec: " + "[" * depth + "]" * depth + "\n"
    return "".join(f"{'  ' * level}k{level}:\n" for level in range(min(depth, 400))) + "x: 1\n"


_RECURSIVE = [
    RECURSIVE_ALIAS,
    "a: &a {b: {c: [*a]}}\n",
    "a: &a {<<: *a}\n",
    "a: &a [&a [1]]\n",
    "&a [*a]\n",
    "a: *undefined\n",
    "? &k [*k]\n: 1\n",
]
_SCALARS = [
    "version: " + "9" * 5000,
    "version: 2024-13-45",
    "version: !!binary '@@@'",
    "version: !!timestamp nope",
    "version: !!python/object/apply:os.system ['true']",
    "version: !Ref other",
    "version: !!float 1e99999",
    "version: .nan",
    "<<: 3",
    "version: <<",
    "=: 1",
    "version: " + "x" * 20_000,
]


_DUMPER: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _spec_with(value: object) -> str:
    body = {
        "apiVersion": "canary.rollout.dev/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "random", "namespace": "fuzz"},
        "spec": value,
    }
    return yaml.dump(body, Dumper=_DUMPER, allow_unicode=True)


_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


def hostile_texts() -> st.SearchStrategy[str]:
    """Spec files as text, hostile or merely wrong."""
    return st.one_of(
        mutated_specs(),
        st.builds(
            billion_laughs,
            levels=st.integers(min_value=1, max_value=12),
            width=st.integers(min_value=2, max_value=12),
        ),
        _merge_chain(),
        _deep(),
        st.sampled_from(_RECURSIVE),
        st.sampled_from(_SCALARS).map(
            lambda line: (
                f"apiVersion: canary.rollout.dev/v1alpha1\nkind: Rollout\nspec:\n  {line}\n"
            )
        ),
        _values.map(_spec_with),
        st.text(alphabet=YAML_SIGNIFICANT, max_size=200),
    )


def hostile_files() -> st.SearchStrategy[bytes]:
    """Spec files as bytes: the texts above, and some that are not UTF-8 text at all."""
    return st.one_of(
        hostile_texts().map(lambda text: text.encode("utf-8", "surrogatepass")),
        st.binary(max_size=300),
        mutated_specs().map(lambda text: b"\xef\xbb\xbf" + text.encode() + b"\xff"),
    )
