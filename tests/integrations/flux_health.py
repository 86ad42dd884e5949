"""Evaluates a Flux ``healthCheckExprs`` entry the way kustomize-controller does.

Flux (``fluxcd/pkg/runtime/cel``) parses each expression with cel-go, optional types on
(``status.?phase.orValue('')``), and evaluates it over the object's top-level fields
(``apiVersion``, ``kind``, ``metadata``, ``spec``, ``status``) as variables. A
``status.observedGeneration`` that differs from ``metadata.generation`` is InProgress
before any expression runs; then ``inProgress``, ``failed`` and ``current`` are tried in
that order and the first true one decides; none true is InProgress; an evaluation error
(a referenced top-level field missing) leaves the resource unready until the timeout.
This module reproduces that with the CEL C++ runtime's Python binding (cel-expr-python).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cel_expr_python import cel
from cel_expr_python.ext import ext_optional

__all__ = ["ERROR", "evaluate_health"]

ERROR = "Error"
TOP_LEVEL = ("apiVersion", "kind", "metadata", "spec", "status")


def _environment() -> Any:
    variables = {name: cel.Type.DYN for name in TOP_LEVEL}
    return cel.NewEnv(variables=variables, extensions=[ext_optional.ExtOptional()])


def evaluate_health(exprs: Mapping[str, str], obj: Mapping[str, Any]) -> str:
    """``InProgress``, ``Failed``, ``Current`` or ``Error`` for ``obj``."""
    status = obj.get("status") or {}
    observed = status.get("observedGeneration") if isinstance(status, dict) else None
    generation = (obj.get("metadata") or {}).get("generation")
    if observed is not None and generation is not None and observed != generation:
        return "InProgress"
    env = _environment()
    data = {name: obj[name] for name in TOP_LEVEL if name in obj}
    for field, verdict in (
        ("inProgress", "InProgress"),
        ("failed", "Failed"),
        ("current", "Current"),
    ):
        expression = exprs.get(field)
        if not expression:
            continue
        try:
            result = env.compile(expression, disable_check=True).eval(data=data).value()
        except Exception:  # cel raises plain exceptions for evaluation errors
            return ERROR
        if result is True:
            return verdict
        if result is not False:
            return ERROR
    return "InProgress"
