"""The public names of the package and of its decision core, pinned.

Inputs: the ``__all__`` of ``rollout`` and of each module of the pure core (``state``,
``effects``, ``events``, ``adoption``, ``route_record``, ``tick``, ``steps``, ``drift``,
``desired``, ``analysis``, ``spec``) and of the ports (``ports``). Outputs
under test: that each list is exactly the one below, that every listed name exists, and
that every listed class or function is defined in the module that lists it (a public name
has one home). Adding, renaming or removing a public name is a decision: make it here too.
"""

from __future__ import annotations

import importlib
import inspect

import pytest

PUBLIC_NAMES: dict[str, list[str]] = {
    "rollout.analysis.alignment": [
        "Interval",
        "MAX_SAMPLES",
        "STALE_SECONDS",
        "SeriesTrack",
        "Timeline",
    ],
    "rollout.analysis.buckets": [
        "ISTIO_BUCKETS_MS",
        "bucket_around",
        "latency_notes",
        "snap_down",
    ],
    "rollout.analysis.incidents": [
        "BREACH_SIGMAS",
        "elevated_together",
        "over_on_every_pod",
        "shared_incident",
        "stable_breached",
    ],
    "rollout.analysis.count_check": [
        "ACCEPT_LOG_LEVEL",
        "BASELINE_MESSAGE",
        "COMPARISON_MASS",
        "CountResult",
        "INTERVAL_CAP",
        "allowed_rate",
        "count_fields",
        "judge_counts",
    ],
    "rollout.analysis.dispersion": [
        "CORRELATION_SECONDS",
        "Spread",
        "VARIANCE_CEILING",
        "VARIANCE_FLOOR",
        "comparison_dispersion",
        "rate_dispersion",
    ],
    "rollout": [
        "API_GROUP",
        "API_VERSION",
        "GROUP_VERSION",
        "__version__",
    ],
    "rollout.state": [
        "Command",
        "Condition",
        "FailedRevision",
        "MAX_COMMAND_HISTORY",
        "MAX_SENT_ALERTS",
        "PROGRESSING",
        "PendingAlert",
        "Phase",
        "READY",
        "RECONCILED",
        "RolloutState",
        "VerdictRecord",
        "reconcile_failure",
        "with_failed_reconcile",
        "with_standard_conditions",
    ],
    "rollout.effects": [
        "Effect",
        "RecordEvent",
        "SetWeights",
    ],
    "rollout.events": [
        "Notification",
    ],
    "rollout.adoption": [
        "Adoption",
        "LiveRoutes",
        "adopt",
        "resume_step",
    ],
    "rollout.route_record": [
        "ANNOTATION_PREFIX",
        "MAX_RECORD_CHARS",
        "RouteRecord",
        "annotation_key",
        "decode",
        "encode",
        "record_of",
    ],
    "rollout.analysis.judge": [
        "judge",
        "rejection_log_threshold",
    ],
    "rollout.analysis.observations": [
        "CANARY",
        "COUNT_FIELDS",
        "POD_COUNT_FIELDS",
        "POD_SAMPLED_FIELD",
        "PolicyObservation",
        "Reading",
        "ReadingProblem",
        "SAMPLED_FIELD",
        "STABLE",
    ],
    "rollout.analysis.pod_series": [
        "CounterReadings",
        "counter_readings",
        "pod_count_fields",
        "seen",
    ],
    "rollout.analysis.running": [
        "AnalysisState",
        "COUNTED_KEYS",
        "PolicyProgress",
        "SCHEMA",
    ],
    "rollout.analysis.sequential": [
        "COMPARISON_GRID",
        "RATE_GRID",
        "acceptance_step",
        "comparison_update",
        "log_mixture",
        "rate_log_likelihood_ratios",
        "rate_update",
        "wald_expected_sample_size",
    ],
    "rollout.analysis.thresholds": [
        "check_quantile",
        "check_value",
        "missing",
        "quantile_min_requests",
    ],
    "rollout.analysis.verdicts": [
        "Evidence",
        "Outcome",
        "Verdict",
    ],
    "rollout.spec.base": [
        "DnsLabel",
        "DnsSubdomain",
        "Duration",
        "ObjectMeta",
        "SpecModel",
        "seconds",
    ],
    "rollout.spec.durations": [
        "format_duration",
        "parse_duration",
    ],
    "rollout.spec.plan": [
        "Plan",
        "PlannedStep",
        "plan",
    ],
    "rollout.spec.alerts": [
        "AlertEvent",
        "AlertTarget",
        "Endpoint",
        "SecretKeyRef",
        "SigningKeySource",
        "UrlSource",
    ],
    "rollout.spec.policy": [
        "POD_FIELDS",
        "Policy",
        "PolicySpec",
        "RenderedPolicy",
        "Threshold",
        "placeholders",
        "render",
        "resolve",
    ],
    "rollout.spec.problems": [
        "Problem",
        "did_you_mean",
    ],
    "rollout.spec.pydantic_problems": [
        "format_field",
        "problems_from",
    ],
    "rollout.spec.rollout": [
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
    ],
    "rollout.spec.traffic": ["HTTPRouteRef", "Traffic", "VirtualServiceRef"],
    "rollout.spec.yamldocs": [
        "BINARY_REFUSED",
        "Document",
        "FieldPath",
        "LINK_REFUSED",
        "MAX_FILE_BYTES",
        "YamlSyntaxError",
        "load_documents",
        "spec_text",
        "too_large",
    ],
    "rollout.desired": [
        "DesiredSpecs",
        "parse_stored",
    ],
    "rollout.drift": [
        "live_canary_weight",
        "weight_drift",
    ],
    "rollout.ports": [
        "AlertSink",
        "Analyzer",
        "DEFAULT_QUERY_TIMEOUT",
        "Desired",
        "EventSink",
        "MetricsProvider",
        "MirrorResult",
        "PENDING_PHASE",
        "RECONCILE_FAILED_PHASE",
        "Readiness",
        "ReadinessProbe",
        "RouteWeights",
        "Router",
        "SecretResolver",
        "Series",
        "SpecMirror",
        "SpecSet",
        "SpecSource",
        "StateStore",
        "Stored",
        "shown_phase",
    ],
    "rollout.steps": [
        "progress",
    ],
    "rollout.spec.hooks": [
        "GATES",
        "Hook",
        "HookKind",
    ],
    "rollout.hook_calls": [
        "Failure",
        "Unwired",
        "first_hold",
        "hook_call",
        "nudge_load",
        "tell",
    ],
    "rollout.spec.managed": [
        "Managed",
        "render_image",
    ],
    "rollout.workload_calls": [
        "Unmanaged",
        "apply_scaling",
        "ensure_canary",
        "follow_stable",
        "gate_hold",
        "planned_replicas",
        "restore_hold",
        "scaling_hold",
    ],
    "rollout.version_ports": [
        "HookAnswer",
        "HookCall",
        "HookCaller",
        "Replicas",
        "Workloads",
    ],
    "rollout.tick": [
        "Decision",
        "HookHold",
        "HookPoint",
        "MAX_RETIRING",
        "Observations",
        "Tick",
    ],
}


@pytest.mark.parametrize("module_name", sorted(PUBLIC_NAMES))
def test_the_public_names_are_the_pinned_ones(module_name: str) -> None:
    module = importlib.import_module(module_name)

    assert sorted(module.__all__) == PUBLIC_NAMES[module_name]


@pytest.mark.parametrize("module_name", sorted(PUBLIC_NAMES))
def test_every_public_name_exists_and_is_defined_where_it_is_listed(module_name: str) -> None:
    module = importlib.import_module(module_name)

    for name in module.__all__:
        member = getattr(module, name)  # AttributeError names a listed name that is gone
        if inspect.isclass(member) or inspect.isfunction(member):
            assert member.__module__ == module_name, f"{module_name}.{name}"
