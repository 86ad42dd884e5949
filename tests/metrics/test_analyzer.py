"""The analyzer keeps each rollout's analysis state between ticks: what it keeps must judge
exactly as the stored JSON form of that state would, and a stored state other than the one
it kept (an older status read back after a conflict, a restart) must be judged as given.

Inputs: a provider of steady counters (every pod serving 10 requests a second, one in a
hundred failing), ticks of one rollout five seconds apart. Outputs: the verdicts and the
stored states of two analyzers, one that kept its state and one handed the stored JSON.
"""

from __future__ import annotations

import json
from typing import Any

from rollout.metrics.analyzer import MetricsAnalyzer
from rollout.ports import DEFAULT_QUERY_TIMEOUT, Desired, Series
from rollout.source.files import shipped_policies
from rollout.spec.policy import resolve
from rollout.state import RolloutState
from tests.metrics.shop_rollouts import shop_rollout

POLICIES = tuple(resolve(policy, {}) for policy in shipped_policies())
START = 1_800_000_000.0


class SteadyCounters:
    """Counters of two pods per version growing with time: 10 requests a second each, 1%
    of them errors (and slow ones), sampled at the time asked about."""

    def query(
        self, promql: str, *, at: float | None = None, timeout: float = DEFAULT_QUERY_TIMEOUT
    ) -> float:
        return 0.1

    def query_series(
        self, promql: str, *, at: float | None = None, timeout: float = DEFAULT_QUERY_TIMEOUT
    ) -> tuple[Series, ...]:
        now = START if at is None else at
        seconds = now - START + 3600.0
        if "timestamp(" in promql:
            value = now
        elif 'response_code=~"' in promql or ("_bucket" in promql and 'le="' in promql):
            value = seconds * 0.1
        else:
            value = seconds * 10.0
        return tuple(Series(((label, pod),), value) for label in ("pod",) for pod in "ab")

    def is_online(self) -> bool:
        return True


def tick(
    analyzer: MetricsAnalyzer, stored: dict[str, Any], at: float
) -> tuple[Any, dict[str, Any]]:
    desired = Desired(shop_rollout("checkout"), policies=POLICIES)
    state = RolloutState(
        stable_version="v1", canary_version="v2", canary_weight=10.0, analysis=stored
    )
    verdict, analysis = analyzer.analyze(desired, state, at)
    assert analysis is not None
    return verdict, analysis


def stored_form(analysis: dict[str, Any]) -> dict[str, Any]:
    """The state as the cluster gives it back: through JSON."""
    loaded: dict[str, Any] = json.loads(json.dumps(analysis))
    return loaded


def test_a_kept_state_judges_as_its_stored_form_does() -> None:
    keeping = MetricsAnalyzer(SteadyCounters())
    stored: dict[str, Any] = {}
    for n in range(1, 8):
        at = START + 5.0 * n
        kept_verdict, kept = tick(keeping, stored, at)
        # a fresh analyzer each time: it can only read the stored form
        read_verdict, read = tick(MetricsAnalyzer(SteadyCounters()), stored_form(stored), at)
        assert kept == read
        assert kept_verdict == read_verdict
        stored = kept
    assert stored["ticks"] == 7


def test_a_stored_state_other_than_the_kept_one_is_judged_as_given() -> None:
    analyzer = MetricsAnalyzer(SteadyCounters())
    states: list[dict[str, Any]] = []
    stored: dict[str, Any] = {}
    for n in range(1, 5):
        _, stored = tick(analyzer, stored, START + 5.0 * n)
        states.append(stored)
    # the status written two ticks ago, read back (another writer's change dropped the newer
    # state kept in memory): judged from it, not from the state the analyzer kept
    older = stored_form(states[1])
    verdict, judged = tick(analyzer, older, START + 25.0)
    expected_verdict, expected = tick(MetricsAnalyzer(SteadyCounters()), older, START + 25.0)
    assert judged == expected and verdict == expected_verdict
    assert judged["ticks"] == states[1]["ticks"] + 1
