"""Stable's look-back: its per-pod counters over the hour before a rollout, read once.

The analysis prices its check across pods by the noise stable's pods showed before the
rollout (``rollout.analysis.history``): bursts on single pods, pods with rates of their
own. On the baseline tick the analyzer asks, per count policy, the policy's own counter
queries for the stable version (bad and total requests, one series per pod) as range
queries over the look-back (``LookBack``: an hour in one-minute steps by default): two
range queries per count policy, once per rollout, not per tick; with ``LookBack.ranges``
the rollouts starting together share one per policy query (``rollout.metrics.batch_range``).
A policy with per-destination-pod queries (``podErrors``/``podSlow`` and ``podTotal``) is
read through those: stable's own pods, not its callers (``rollout.analysis.pod_series``);
where they return no series, through its own counters, as before.

A provider without range queries (``RangeProvider``), a failed or refused query, or a
template that does not render gives no history for that policy: the analysis then keeps
its check across pods as strict as without a look-back. Nothing here raises.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from rollout.analysis.observations import COUNT_FIELDS
from rollout.analysis.pod_series import pod_count_fields
from rollout.errors import MetricsError, TemplateError
from rollout.ports import DEFAULT_QUERY_TIMEOUT, MetricsProvider, Series
from rollout.spec.policy import RenderedPolicy

if TYPE_CHECKING:
    from rollout.metrics.batch_range import BatchedRanges

__all__ = ["History", "LookBack", "RangeProvider", "enrol_look_back", "stable_history"]

History = dict[str, dict[str, tuple[tuple[float, float], ...]]]
"""Per counter field, per series key, ``(time, value)`` at each step."""


@dataclasses.dataclass(frozen=True)
class LookBack:
    """How far back stable's counters are read, and at which step."""

    seconds: float = 3600.0
    step: float = 60.0
    ranges: BatchedRanges | None = dataclasses.field(default=None, compare=False)
    """The look-backs of rollouts starting together, read in one range query per policy
    query (``rollout.metrics.batch_range``); None: one per rollout."""


@runtime_checkable
class RangeProvider(Protocol):
    """A provider that also answers range queries (``PrometheusProvider``)."""

    def query_range(
        self,
        promql: str,
        *,
        start: float,
        end: float,
        step: float,
        timeout: float = DEFAULT_QUERY_TIMEOUT,
    ) -> list[tuple[dict[str, str], tuple[tuple[float, float], ...]]]: ...


def stable_history(
    policies: Sequence[RenderedPolicy],
    provider: MetricsProvider,
    *,
    stable: Mapping[str, object],
    at: float,
    look_back: LookBack,
    timeout: float = DEFAULT_QUERY_TIMEOUT,
) -> dict[str, History]:
    """Per count policy, stable's counters over the look-back ending at ``at``."""
    if not isinstance(provider, RangeProvider):
        return {}
    enrol_look_back(policies, stable=stable, at=at, look_back=look_back)
    histories: dict[str, History] = {}
    for policy in policies:
        for fields in _choices(policy):
            if len(fields) < 2 or not any(field.endswith("total") for field in fields):
                continue
            try:
                queries = policy.queries_for(stable)
                context = {**policy.params, **stable}
                history = {
                    field: _read(
                        provider,
                        queries[field],
                        at=at,
                        look_back=look_back,
                        timeout=timeout,
                        batched=(policy.templates[field], context),
                    )
                    for field in fields
                }
            except (MetricsError, TemplateError):
                break
            if any(history[field] for field in fields if field.endswith("total")):
                histories[policy.name] = history
                break
    return histories


def enrol_look_back(
    policies: Sequence[RenderedPolicy],
    *,
    stable: Mapping[str, object],
    at: float,
    look_back: LookBack,
) -> None:
    """Enrol every counter stable's look-back ending at ``at`` may read in the batched
    ranges, without asking: the first query over the range names them all, so a look-back
    waits for one gathering, not one per counter (and one enrolled ahead of a rollout's
    first tick is asked by ``BatchedRanges.ask_pending``)."""
    if look_back.ranges is None:
        return
    window = (at - look_back.seconds, at, look_back.step)
    for policy in policies:
        context = {**policy.params, **stable}
        for field in {field for fields in _choices(policy) for field in fields}:
            look_back.ranges.join(policy.templates[field], context, window=window)


def _choices(policy: RenderedPolicy) -> list[list[str]]:
    """The counters to read, in order: stable's own pods where the policy names them; its
    own counters if they say nothing."""
    own = [field for field in policy.templates if field in COUNT_FIELDS]
    located = pod_count_fields(policy)
    return [list(located), own] if located is not None else [own]


def _read(
    provider: RangeProvider,
    query: str,
    *,
    at: float,
    look_back: LookBack,
    timeout: float,
    batched: tuple[str, Mapping[str, object]],
) -> dict[str, tuple[tuple[float, float], ...]]:
    if look_back.ranges is not None:
        template, context = batched
        found = look_back.ranges.query_range(
            template,
            context,
            start=at - look_back.seconds,
            end=at,
            step=look_back.step,
            timeout=timeout,
        )
        if found is not None:
            return found
    matrix = provider.query_range(
        query, start=at - look_back.seconds, end=at, step=look_back.step, timeout=timeout
    )
    return {Series(tuple(sorted(labels.items())), 0.0).key: points for labels, points in matrix}
