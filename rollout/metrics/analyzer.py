"""The analyzer the coordinator calls each tick: query the metrics provider, then judge.

Joins the I/O half (``rollout.metrics.observe``: render each policy for the canary and the
stable version, ask the provider) and the pure half (``rollout.analysis.judge``: counts,
sequential tests, thresholds) for one rollout, carrying the analysis state between ticks in
the Rollout's status. Given a ``BatchedQueries``, the rollouts of one pass share one query
per policy template. On a rollout's first tick (no stored analysis yet) stable's counters
over the look-back are read too (``rollout.metrics.look_back``): the analysis prices its
check across pods by the noise stable's pods showed before the rollout.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from rollout.analysis.judge import judge
from rollout.analysis.running import AnalysisState
from rollout.analysis.verdicts import Verdict
from rollout.metrics.batch import BatchedQueries
from rollout.metrics.look_back import LookBack
from rollout.metrics.observe import enrol_first_tick, observe, template_context
from rollout.ports import DEFAULT_QUERY_TIMEOUT, Desired, MetricsProvider
from rollout.state import RolloutState

MAX_KEPT = 50_000
"""Rollouts whose last analysis state is kept in memory; past this many all are forgotten
at once (each is then read from its stored form once more)."""


class MetricsAnalyzer:
    """:class:`rollout.ports.Analyzer`: judges a rollout's canary against its policies, asking
    one :class:`rollout.ports.MetricsProvider` (Prometheus in production)."""

    def __init__(
        self,
        provider: MetricsProvider,
        *,
        timeout: float = DEFAULT_QUERY_TIMEOUT,
        batch: BatchedQueries | None = None,
        look_back: LookBack | None = None,
    ) -> None:
        self.provider = provider
        self.timeout = timeout
        self.batch = batch
        self.look_back = look_back or LookBack()
        self._kept: dict[str, tuple[dict[str, Any], AnalysisState]] = {}
        """Each rollout's last analysis state and the JSON form it was stored as: the next
        tick, handed that same mapping back (or an equal one, read from the cluster), uses
        the state itself instead of reading it again (the round trip is exact:
        ``tests/analysis/test_judge.py``); a rollout is judged by one worker at a time."""

    def prepare(self, starting: Sequence[tuple[Desired, RolloutState]], now: float) -> None:
        """Rollouts whose next tick starts a canary (a push being mirrored): enrol what
        their first ticks will ask (each policy query for both versions, stable's
        look-back) and ask it for all of them at once, in the background. The first ticks
        are then served from those answers: a push to a thousand rollouts asks one query
        per policy query and one look-back per counter, not one gathering per few rollouts
        in front of their first weights. Without a batch nothing is asked ahead."""
        if self.batch is None and self.look_back.ranges is None:
            return
        enrolled = False
        for desired, state in starting:
            rollout, stable = desired.rollout, state.stable_version
            if not desired.policies or stable is None:
                continue
            enrol_first_tick(
                desired.policies,
                canary=template_context(rollout, rollout.spec.version),
                stable=(
                    template_context(rollout, stable)
                    if rollout.spec.analysis.compare_with_stable
                    else None
                ),
                at=now,
                batch=self.batch,
                look_back=self.look_back,
            )
            enrolled = True
        if not enrolled:
            return
        if self.batch is not None:
            threading.Thread(
                target=self.batch.ask_pending,
                kwargs={"at": now, "timeout": self.timeout},
                name="analysis-ahead",
                daemon=True,
            ).start()
        if self.look_back.ranges is not None:
            threading.Thread(
                target=self.look_back.ranges.ask_pending,
                kwargs={"timeout": self.timeout},
                name="look-back-ahead",
                daemon=True,
            ).start()

    def analyze(
        self, desired: Desired, state: RolloutState, now: float
    ) -> tuple[Verdict | None, dict[str, Any] | None]:
        rollout = desired.rollout
        if not desired.policies:
            return None, None
        canary = state.canary_version or rollout.spec.version
        stable = state.stable_version
        settings = rollout.spec.analysis
        fresh = AnalysisState.fresh_in(state.analysis)
        observations = observe(
            desired.policies,
            self.provider,
            canary=template_context(rollout, canary),
            stable=(
                template_context(rollout, stable)
                if stable is not None and settings.compare_with_stable
                else None
            ),
            at=now,
            timeout=self.timeout,
            batch=self.batch,
            look_back=self.look_back if fresh else None,
        )
        kept = self._kept.get(rollout.key)
        stored = state.analysis
        previous: AnalysisState | dict[str, Any] | None = stored
        if kept is not None and (kept[0] is stored or kept[0] == stored):
            previous = kept[1]
        verdict, analysis_state = judge(
            desired.policies,
            observations,
            settings,
            previous,
            canary_weight=state.canary_weight,
        )
        written = analysis_state.as_dict()
        if len(self._kept) >= MAX_KEPT and rollout.key not in self._kept:
            self._kept.clear()
        self._kept[rollout.key] = (written, analysis_state)
        return verdict, written
