"""Hostile YAML that the spec reader must refuse cleanly, shared by the spec tests, the Git
source tests, the fuzzer and the end-to-end test."""

from __future__ import annotations


def billion_laughs(levels: int = 9, width: int = 10) -> str:
    """The classic exponential-alias file: ``width ** levels`` values from a few lines."""
    lines = ['a0: &a0 "lol"']
    for level in range(1, levels + 1):
        aliases = ", ".join([f"*a{level - 1}"] * width)
        lines.append(f"a{level}: &a{level} [{aliases}]")
    return "\n".join(lines) + "\n"


RECURSIVE_ALIAS = "apiVersion: canary.rollout.dev/v1alpha1\nkind: Rollout\nspec: &loop [*loop]\n"
"""A document whose ``spec`` contains itself (line 3)."""
