"""The ``Rollout`` spec: what version should be live and how to get there safely.

One spec per service. A change of ``spec.version`` starts a rollout. The model is strict
(unknown fields are errors) and validates everything that can be checked without a cluster:
names, templates, weights, durations. Cross-document checks (policy names, duplicate
rollouts) live in ``rollout.spec.catalog``.
"""

from __future__ import annotations

import enum
import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from rollout import GROUP_VERSION
from rollout.spec import routing
from rollout.spec.alerts import AlertTarget
from rollout.spec.base import DnsLabel, DnsSubdomain, Duration, ObjectMeta, SpecModel, seconds
from rollout.spec.hooks import Hook, HookKind
from rollout.spec.managed import Managed
from rollout.spec.traffic import Traffic

__all__ = [
    "Analysis",
    "AnalyzeStep",
    "NoDataMeaning",
    "OnAdopt",
    "OnDelete",
    "PauseStep",
    "PolicyRef",
    "Rollout",
    "RolloutSpec",
    "Step",
    "Workload",
    "WriteBack",
    "default_steps",
]

_VERSION_TEMPLATE_FIELD = re.compile(r"\{([^{}]*)\}")


def render_version_template(template: str, version: str) -> str:
    """Render ``checkout-{version}`` for one version."""
    return template.replace("{version}", version)


def _check_version_template(value: str) -> str:
    names = _VERSION_TEMPLATE_FIELD.findall(value)
    unknown = [name for name in names if name != "version"]
    if unknown:
        raise ValueError(f"unknown placeholder {{{unknown[0]}}}: only {{version}} is available")
    if not names:
        raise ValueError(f"{value!r} must contain {{version}} so each version maps to its own name")
    return value


class Workload(SpecModel):
    """How a version maps to its Deployment and its DestinationRule subset."""

    deployment: str = Field(
        "{service}-{version}",
        description="Deployment name template; {version} is replaced by the version.",
    )
    subset: str = Field("{version}", description="DestinationRule subset name template.")
    managed: Managed | None = Field(
        None,
        description="Opt-in: the controller makes and scales the versions' Deployments.",
    )

    @field_validator("subset")
    @classmethod
    def _subset_has_version(cls, value: str) -> str:
        return _check_version_template(value)


class PauseStep(SpecModel):
    """Hold for a duration, or until a person promotes when no duration is given."""

    duration: Duration | None = None


class AnalyzeStep(SpecModel):
    """Hold at the current weight for a duration while the analysis runs; then go on unless a
    check is undecided (a failing check rolls back at any tick)."""

    duration: Duration


_STEP_KINDS = ("set_weight", "pause", "analyze", "set_header_route", "set_mirror")


class Step(SpecModel):
    """One of setWeight, pause, analyze, setHeaderRoute, setMirror (spec/routing.py)."""

    set_weight: int | None = Field(None, ge=0, le=100)
    pause: PauseStep | None = None
    analyze: AnalyzeStep | None = None
    set_header_route: routing.HeaderRoute | None = None
    set_mirror: routing.MirrorStep | None = None
    require_evidence: bool | None = Field(
        None,
        description=(
            "setWeight only: raise the weight only once the analysis shows the canary "
            "within its SLOs (the default); false raises it on time and a passing verdict, "
            "unless the data lean towards the canary being worse. "
            "The first weight above 0 never waits: without traffic there is no evidence."
        ),
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> Step:
        given = [to_camel(name) for name in _STEP_KINDS if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(
                "each step needs exactly one of setWeight, pause, analyze, setHeaderRoute "
                "or setMirror" + (f", got {', '.join(given)}" if given else "")
            )
        if self.require_evidence is not None and self.set_weight is None:
            raise ValueError("requireEvidence belongs to a setWeight step")
        return self

    @property
    def needs_evidence(self) -> bool:
        """Whether raising the weight to this step waits for evidence of the SLOs."""
        return self.require_evidence is not False

    @property
    def kind(self) -> Literal["setWeight", "pause", "analyze", "setHeaderRoute", "setMirror"]:
        if self.set_weight is not None:
            return "setWeight"
        if self.pause is not None:
            return "pause"
        if self.set_header_route is not None:
            return "setHeaderRoute"
        if self.set_mirror is not None:
            return "setMirror"
        return "analyze"


def default_steps() -> list[Step]:
    """1% for 2 minutes, 10% for 1, 50% for 1, then promotion once the verdict allows it.

    The first step is small on purpose: with a 15 s scrape interval each scrape adds
    ``weight * rate * 15 s`` canary requests at once, and at 1% of 100 req/s that is 15
    requests, fine enough for the sequential test to stop a grossly bad canary after a few
    dozen requests; at 5% a single scrape already holds 75. Two minutes there let that
    happen before the weight grows. 10% follows on time alone (a quiet service cannot show
    anything at 1%); a minute at 10% then gives a mildly worse canary (1% errors against
    0.1%) several hundred requests to be caught, and 50% waits until the evidence shows the
    canary within its SLOs. There is no final ``setWeight: 100``: after the last step the
    rollout holds at 50% until the verdict is promotable, then promotes
    (``python -m bench.detection``).
    """
    return [
        Step(set_weight=1),
        Step(analyze=AnalyzeStep(duration="2m")),
        Step(set_weight=10, require_evidence=False),
        Step(analyze=AnalyzeStep(duration="1m")),
        Step(set_weight=50),
        Step(analyze=AnalyzeStep(duration="1m")),
    ]


class NoDataMeaning(enum.StrEnum):
    """What a check with no data means. Inconclusive holds the weight and never promotes."""

    INCONCLUSIVE = "inconclusive"
    FAIL = "fail"


class PolicyRef(SpecModel):
    """A policy applied by name, with parameter overrides."""

    name: DnsSubdomain
    params: dict[str, str | int | float] = Field(default_factory=dict)


def default_policies() -> list[PolicyRef]:
    """Errors, and latency as the share of requests slower than an SLO bucket edge.

    Both are count tests with error control (``docs/analysis.md``). The p99 threshold
    policy (``istio-latency-p99``) is not a default: a quantile read from a histogram is
    biased inside its bucket and noisy on a minute of canary traffic.
    """
    return [
        PolicyRef(name="istio-error-ratio"),
        PolicyRef(name="istio-slow-request-ratio"),
    ]


class Analysis(SpecModel):
    """How every step is judged."""

    interval: Duration = Field(
        "5s",
        description=(
            "Time between analysis ticks. Shorter than the usual 15 s scrape interval, so a "
            "breach is acted on within seconds of reaching Prometheus."
        ),
    )
    policies: list[PolicyRef] = Field(default_factory=default_policies)
    compare_with_stable: bool = True
    significance: float = Field(0.01, gt=0, lt=0.5)
    min_sample_size: int = Field(
        200, ge=0, description="Canary requests required before any promotion."
    )
    no_data: NoDataMeaning = NoDataMeaning.INCONCLUSIVE
    max_inconclusive: int = Field(
        120,
        ge=1,
        description=(
            "Inconclusive ticks in a row that force a rollback (10 minutes at the default "
            "5 s interval: long enough for a quiet service's 1% canary to see traffic)."
        ),
    )

    @field_validator("policies")
    @classmethod
    def _unique_policies(cls, value: list[PolicyRef]) -> list[PolicyRef]:
        names = [ref.name for ref in value]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"policy {duplicates[0]!r} is applied twice")
        return value


class OnDelete(enum.StrEnum):
    """What to do when the spec is deleted mid-rollout."""

    REVERT = "revert"
    LEAVE = "leave"


class OnAdopt(enum.StrEnum):
    """What to do with a canary found carrying traffic when the rollout has no state (a
    Rollout deleted and recreated, or its status lost): resume its steps from the weight
    it has, analysing again, or send all traffic back to stable and start over."""

    RESUME = "resume"
    REVERT = "revert"


class WriteBack(SpecModel):
    """Opt-in: after a rollback, commit the outcome to the spec repository."""

    enabled: bool = False
    mode: Literal["revert", "statusFile"] = "revert"
    branch: str | None = None


class RolloutSpec(SpecModel):
    version: str = Field(
        min_length=1, max_length=63, pattern=r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
    )
    service: DnsLabel | None = Field(None, description="Service name; defaults to metadata.name.")
    workload: Workload = Field(default_factory=Workload)
    traffic: Traffic
    steps: list[Step] = Field(default_factory=default_steps, max_length=64)
    blue_green: routing.BlueGreen | None = None
    analysis: Analysis = Field(default_factory=Analysis)
    alerts: list[AlertTarget] = Field(default_factory=list)
    hooks: list[Hook] = Field(
        default_factory=list,
        description="HTTP calls before the rollout moves and after it has (docs/hooks.md).",
    )
    progress_deadline: Duration = "10m"
    on_delete: OnDelete = OnDelete.REVERT
    on_adopt: OnAdopt = OnAdopt.RESUME
    write_back: WriteBack = Field(default_factory=WriteBack)

    @model_validator(mode="before")
    @classmethod
    def _blue_green_steps(cls, data: Any) -> Any:
        return routing.with_blue_green_steps(data, Step.model_validate)

    @field_validator("steps")
    @classmethod
    def _weights_never_decrease(cls, steps: list[Step]) -> list[Step]:
        if not steps:
            raise ValueError("at least one step is needed")
        previous = 0
        for index, step in enumerate(steps):
            if step.set_weight is None:
                continue
            if step.set_weight < previous:
                raise ValueError(
                    f"step {index}: setWeight {step.set_weight} is lower than the "
                    f"previous weight {previous}; weights never decrease"
                )
            previous = step.set_weight
        return steps

    @field_validator("alerts")
    @classmethod
    def _unique_alert_names(cls, value: list[AlertTarget]) -> list[AlertTarget]:
        _check_unique("alert target", [t.name for t in value])
        return value

    @field_validator("hooks")
    @classmethod
    def _unique_hook_names(cls, value: list[Hook]) -> list[Hook]:
        _check_unique("hook", [h.name for h in value])
        return value


def _check_unique(what: str, names: list[str]) -> None:
    for name in names:
        if names.count(name) > 1:
            raise ValueError(f"{what} {name!r} is listed twice")


class Rollout(SpecModel):
    """A whole ``kind: Rollout`` document."""

    api_version: Literal["canary.rollout.dev/v1alpha1"] = GROUP_VERSION  # type: ignore[assignment]
    kind: Literal["Rollout"] = "Rollout"
    metadata: ObjectMeta
    spec: RolloutSpec

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def namespace(self) -> str:
        return self.metadata.namespace

    @property
    def key(self) -> str:
        """``namespace/name``: unique across a spec repository."""
        return f"{self.metadata.namespace}/{self.metadata.name}"

    @property
    def service(self) -> str:
        return self.spec.service or self.metadata.name

    def hooks_of(self, kind: HookKind) -> list[Hook]:
        """The spec's hooks called at ``kind``, in the order given."""
        return [hook for hook in self.spec.hooks if hook.type is kind]

    def deployment_for(self, version: str) -> str:
        template = self.spec.workload.deployment.replace("{service}", self.service)
        return render_version_template(template, version)

    def subset_for(self, version: str) -> str:
        return render_version_template(self.spec.workload.subset, version)

    def planned_weights(self) -> list[int]:
        """The weight after each step; an implied final 100 is appended when missing."""
        weights: list[int] = []
        current = 0
        for step in self.spec.steps:
            if step.set_weight is not None:
                current = step.set_weight
            weights.append(current)
        return weights

    @property
    def progress_deadline_seconds(self) -> float:
        return seconds(self.spec.progress_deadline)

    @property
    def interval_seconds(self) -> float:
        return seconds(self.spec.analysis.interval)
