"""The decision core's evidence gate: a step raises the weight only on evidence.

Inputs are a spec with analysis steps and hand-made verdicts (not yet shown within the
SLOs, a pass, a pass that leans worse); outputs are the canary weight and the message after
each tick. No I/O anywhere.
"""

from __future__ import annotations

import pytest

from rollout.analysis.verdicts import Outcome, Verdict
from rollout.state import Phase
from tests.decide_walker import NOT_YET_SHOWN, PASS, Walker, started
from tests.rollouts import make_rollout


def test_a_raise_waits_for_evidence_within_the_slos_then_goes_on() -> None:
    walker = started(Walker())
    walker.tick(ready=True)
    assert walker.state.canary_weight == 10  # the first weight needs no evidence
    walker.tick(after=40, verdict=NOT_YET_SHOWN)  # the analysis step is over
    assert walker.state.canary_weight == 10
    assert "waiting for evidence" in walker.state.message
    for _ in range(5):
        walker.tick(after=60, verdict=NOT_YET_SHOWN)
        assert walker.state.canary_weight == 10
    walker.tick(verdict=PASS)
    assert walker.state.canary_weight == 50


def test_a_step_can_raise_the_weight_without_evidence_when_it_says_so() -> None:
    steps = [
        {"setWeight": 10},
        {"analyze": {"duration": "30s"}},
        {"setWeight": 50, "requireEvidence": False},
        {"analyze": {"duration": "30s"}},
    ]
    walker = started(Walker(steps=steps))
    walker.tick(ready=True)
    walker.tick(after=40, verdict=NOT_YET_SHOWN)
    assert walker.state.canary_weight == 50
    walker.tick(after=40, verdict=NOT_YET_SHOWN)  # promotion still needs a promotable verdict
    assert walker.state.phase is Phase.PROMOTING


def test_no_step_raises_the_weight_while_the_evidence_leans_worse() -> None:
    steps = [
        {"setWeight": 10},
        {"analyze": {"duration": "30s"}},
        {"setWeight": 50, "requireEvidence": False},
        {"analyze": {"duration": "30s"}},
    ]
    leaning = Verdict(Outcome.PASS, (), canary_requests=50, leaning_worse=True)
    walker = started(Walker(steps=steps))
    walker.tick(ready=True)
    walker.tick(after=40, verdict=leaning)
    assert walker.state.canary_weight == 10
    assert "leans towards the canary being worse" in walker.state.message
    walker.tick(after=40, verdict=NOT_YET_SHOWN)  # out of the grey zone: on time again
    assert walker.state.canary_weight == 50


def test_require_evidence_belongs_to_set_weight_steps() -> None:
    with pytest.raises(ValueError, match="requireEvidence belongs to a setWeight step"):
        make_rollout("v1", steps=[{"pause": {}, "requireEvidence": True}])
