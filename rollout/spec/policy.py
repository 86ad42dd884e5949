"""SLO policies: reusable PromQL templates with thresholds, as ``kind: Policy`` documents.

A policy is one of three types:

- ``ratio``: ``errors`` / ``total`` request counts with a ``max`` ratio; the counts also feed
  the canary-versus-stable sequential test;
- ``latency``: requests slower than an SLO bucket (``slow`` / ``total`` counts, judged like a
  ratio with ``maxSlowRatio``) and/or a quantile query against ``maxMs``;
- ``value``: one number with ``min`` and/or ``max``.

Templates use ``{{ name }}`` placeholders and are rendered strictly: a placeholder that is
neither built in (``namespace``, ``service``, ``workload``, ``version``, ``subset``, ``window``,
``interval``) nor a declared parameter is an error at validation time, not at 3 a.m.
Thresholds may be numbers or a single placeholder naming a parameter, so a rollout can
override them with ``params``.

A count policy may also say where its requests were served: ``podErrors`` (or ``podSlow``)
and ``podTotal``, with ``podSampled``, the same counts with one series per *destination*
pod of the version. Counts read from the callers (Istio's ``reporter="source"``) have one
series per calling pod, each mixing every pod of the version; the check across the
canary's pods and stable's look-back read these instead (``rollout.analysis.pod_series``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Literal

from pydantic import Field, model_validator

from rollout import GROUP_VERSION
from rollout.errors import TemplateError
from rollout.spec.base import ObjectMeta, SpecModel
from rollout.spec.problems import did_you_mean

__all__ = [
    "POD_FIELDS",
    "Policy",
    "PolicySpec",
    "RenderedPolicy",
    "Threshold",
    "placeholders",
    "render",
    "resolve",
]

BUILTIN_PLACEHOLDERS = (
    "namespace",
    "service",
    "workload",
    "version",
    "subset",
    "window",
    "interval",
)
"""Placeholders the controller fills in; ``workload``/``version``/``subset`` per version."""

DUMMY_CONTEXT = {
    "namespace": "validate-ns",
    "service": "validate-svc",
    "workload": "validate-svc-v0",
    "version": "v0",
    "subset": "v0",
    "window": "1m",
    "interval": "30s",
}
"""Values used to render templates when validating without a cluster."""

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_MALFORMED = re.compile(r"\{\{(?!\s*[A-Za-z_][A-Za-z0-9_]*\s*\}\})")

Threshold = float | str

POD_FIELDS = {
    "ratio": ("pod_errors", "pod_total", "pod_sampled"),
    "latency": ("pod_slow", "pod_total", "pod_sampled"),
}
"""Per policy type: the per-destination-pod bad, total and sample-time templates."""


def placeholders(template: str) -> list[str]:
    """Names used by ``template``, in order of appearance."""
    return _PLACEHOLDER.findall(template)


def render(template: str, context: Mapping[str, object]) -> str:
    """Fill every ``{{ name }}``; raise ``TemplateError`` on a missing or malformed one."""
    pieces = _pieces(template)
    filled = list(pieces)
    for index in range(1, len(pieces), 2):
        name = pieces[index]
        if name not in context:
            hint = did_you_mean(name, context.keys())
            raise TemplateError(f"unknown placeholder {{{{ {name} }}}}{hint}")
        filled[index] = str(context[name])
    return "".join(filled)


@functools.lru_cache(maxsize=4096)
def _pieces(template: str) -> tuple[str, ...]:
    """``template`` cut at its placeholders: text, a name, text, ..., text (every rollout
    renders the same few templates at every tick: each is cut once)."""
    bad = _MALFORMED.search(template)
    if bad:
        raise TemplateError(
            f"malformed placeholder at {template[bad.start() : bad.start() + 20]!r}"
        )
    return tuple(_PLACEHOLDER.split(template))


class PolicySpec(SpecModel):
    type: Literal["ratio", "latency", "value"]
    description: str = ""
    params: dict[str, str | int | float] = Field(
        default_factory=dict, description="Template parameters with their defaults."
    )
    # ratio
    errors: str | None = None
    total: str | None = None
    max: Threshold | None = None
    sampled: str | None = Field(
        None,
        description=(
            "Counts only: the time of each series' last sample, grouped like total "
            "(max by (pod) (timestamp(...))), so canary and stable are cut on the same times."
        ),
    )
    pod_errors: str | None = Field(
        None,
        description=(
            "Counts only: the bad requests again, one series per destination pod of the "
            'version (reporter="destination"), read only by the check across pods and '
            "the look-back; podSlow in a latency policy."
        ),
    )
    pod_total: str | None = Field(
        None, description="Counts only: all requests, one series per destination pod."
    )
    pod_sampled: str | None = Field(
        None, description="Counts only: the sample time of each podTotal series."
    )
    # latency
    slow: str | None = None
    pod_slow: str | None = None
    max_slow_ratio: Threshold | None = None
    quantile: str | None = None
    max_ms: Threshold | None = None
    # value
    query: str | None = None
    min: Threshold | None = None
    compare: bool = Field(
        True, description="Judge the counts canary-versus-stable with the sequential test."
    )

    @model_validator(mode="after")
    def _fields_match_type(self) -> PolicySpec:
        needed: dict[str, tuple[str, ...]] = {
            "ratio": ("errors", "total"),
            "latency": (),
            "value": ("query",),
        }
        allowed: dict[str, set[str]] = {
            "ratio": {"errors", "total", "max", "sampled", *POD_FIELDS["ratio"]},
            "latency": {
                "slow",
                "total",
                "max_slow_ratio",
                "quantile",
                "max_ms",
                "sampled",
                *POD_FIELDS["latency"],
            },
            "value": {"query", "min", "max"},
        }
        for name in needed[self.type]:
            if getattr(self, name) is None:
                raise ValueError(f"a {self.type} policy needs {_camel(name)}")
        for name in (
            "errors",
            "total",
            "sampled",
            "pod_errors",
            "pod_total",
            "pod_sampled",
            "max",
            "slow",
            "pod_slow",
            "max_slow_ratio",
            "quantile",
            "max_ms",
            "query",
            "min",
        ):
            if getattr(self, name) is not None and name not in allowed[self.type]:
                raise ValueError(f"{_camel(name)} does not belong in a {self.type} policy")
        if self.type == "latency":
            has_counts = self.slow is not None and self.total is not None
            if (self.slow is None) != (self.total is None):
                raise ValueError("a latency policy needs both slow and total, or neither")
            if not has_counts and self.quantile is None:
                raise ValueError("a latency policy needs slow and total, or quantile, or both")
            if self.quantile is not None and self.max_ms is None:
                raise ValueError("a latency quantile needs maxMs")
        if self.type == "value" and self.min is None and self.max is None:
            raise ValueError("a value policy needs min, max or both")
        self._pod_fields_complete()
        return self

    def _pod_fields_complete(self) -> None:
        """Per-pod counts come as a pair beside the policy's own counts, or not at all."""
        if self.type == "value":
            return
        bad, total, sampled = POD_FIELDS[self.type]
        given = [name for name in (bad, total) if getattr(self, name) is not None]
        if not given and getattr(self, sampled) is None:
            return
        if len(given) < 2:
            raise ValueError(
                f"per-pod counts need both {_camel(bad)} and {_camel(total)}"
                f" ({_camel(sampled)} optional)"
            )
        own = "errors" if self.type == "ratio" else "slow"
        if getattr(self, own) is None or self.total is None:
            raise ValueError(
                f"{_camel(bad)} and {_camel(total)} locate the requests that {own} and total"
                " count: give those too"
            )

    def templates(self) -> dict[str, str]:
        """Every PromQL template of this policy, by field name."""
        names = (
            "errors",
            "total",
            "sampled",
            "slow",
            "pod_errors",
            "pod_slow",
            "pod_total",
            "pod_sampled",
            "quantile",
            "query",
        )
        return {name: value for name in names if (value := getattr(self, name)) is not None}

    def threshold_fields(self) -> dict[str, Threshold]:
        names = ("max", "max_slow_ratio", "max_ms", "min")
        return {name: value for name in names if (value := getattr(self, name)) is not None}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


class Policy(SpecModel):
    """A whole ``kind: Policy`` document."""

    api_version: Literal["canary.rollout.dev/v1alpha1"] = GROUP_VERSION  # type: ignore[assignment]
    kind: Literal["Policy"] = "Policy"
    metadata: ObjectMeta
    spec: PolicySpec

    @property
    def name(self) -> str:
        return self.metadata.name


class RenderedPolicy(SpecModel):
    """A policy with parameters merged and thresholds resolved to numbers.

    Queries stay templates over the built-in placeholders, rendered per version and tick
    by ``queries_for``.
    """

    name: str
    type: Literal["ratio", "latency", "value"]
    params: dict[str, str | int | float]
    templates: dict[str, str]
    thresholds: dict[str, float]
    compare: bool

    def queries_for(self, context: Mapping[str, object]) -> dict[str, str]:
        """Render every query for one version: ``context`` holds the built-in placeholders."""
        merged = {**self.params, **context}
        return {name: render(template, merged) for name, template in self.templates.items()}


def resolve(policy: Policy, overrides: Mapping[str, str | int | float]) -> RenderedPolicy:
    """Merge overrides into a policy and check every template with dummy values.

    Raises ``TemplateError`` naming the field on an unknown override, an unknown
    placeholder, or a threshold that is not a number.
    """
    spec = policy.spec
    for name in overrides:
        if name not in spec.params:
            hint = did_you_mean(name, spec.params.keys())
            declared = ", ".join(sorted(spec.params)) or "none"
            raise TemplateError(
                f"policy {policy.name!r} has no parameter {name!r}{hint}; it declares: {declared}"
            )
    params = {**spec.params, **overrides}
    context = {**DUMMY_CONTEXT, **params}
    for field, template in spec.templates().items():
        try:
            render(template, context)
        except TemplateError as error:
            raise TemplateError(str(error), field=_camel(field)) from None
    thresholds: dict[str, float] = {}
    for field, raw in spec.threshold_fields().items():
        try:
            text = render(raw, params) if isinstance(raw, str) else raw
            thresholds[field] = float(text)
        except TemplateError as error:
            raise TemplateError(str(error), field=_camel(field)) from None
        except ValueError:
            whole = _PLACEHOLDER.fullmatch(raw.strip()) if isinstance(raw, str) else None
            if whole is not None:
                raise TemplateError(
                    f"{text!r} is not a number (it sets the policy's {_camel(field)})",
                    field=_camel(field),
                    param=whole.group(1),
                ) from None
            raise TemplateError(f"{text!r} is not a number", field=_camel(field)) from None
    return RenderedPolicy(
        name=policy.name,
        type=spec.type,
        params=params,
        templates=spec.templates(),
        thresholds=thresholds,
        compare=spec.compare,
    )
