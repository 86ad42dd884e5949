"""One count policy's tests on hand-made intervals: incidents, acceptance and the grey zone.

Inputs are cumulative counters per tick (one pod per version, no sample times: one
interval per tick) for the shipped error policy; outputs are its evidence and statistics.
"""

from __future__ import annotations

from rollout.analysis.alignment import Interval
from rollout.analysis.incidents import stable_breached
from rollout.analysis.verdicts import Outcome
from tests.analysis.judged_counters import JudgedCounters


class Counters(JudgedCounters):
    """One pod per version."""

    def __init__(self) -> None:
        super().__init__("canary-a", "stable-a")
        self.message = ""

    def serve(self, canary: tuple[int, int], stable: tuple[int, int]) -> tuple[Outcome, bool]:
        """One tick: ``(errors, requests)`` per version; the outcome and acceptance."""
        result = self.judge({"canary-a": canary, "stable-a": stable})
        self.message = result.evidence.message
        return result.evidence.outcome, result.accepted


def test_stable_breaching_its_slo_is_an_incident() -> None:
    incident = Interval(15, (10, 50), (200, 1000), ((200, 1000),))
    quiet = Interval(15, (1, 50), (2, 1000), ((2, 1000),))
    assert stable_breached(incident, allowed=0.01, noise=0.25)
    assert not stable_breached(quiet, allowed=0.01, noise=0.25)


def test_an_incident_both_versions_suffer_does_not_roll_the_canary_back() -> None:
    counters = Counters()
    counters.serve((0, 0), (0, 0))
    for tick in range(30):
        incident = tick % 10 in (3, 4)
        outcome, _ = counters.serve(
            (20, 100) if incident else (0, 100), (200, 1000) if incident else (1, 1000)
        )
        assert outcome is Outcome.PASS
    assert counters.progress.acceptance > 0
    # the evidence says why the canary's errors in those intervals were not held against it
    assert (
        "; stable over the SLO too in 6 intervals (a shared incident): judged there against"
        " stable, not the SLO; " in counters.message
    )


def test_without_an_incident_the_evidence_does_not_mention_one() -> None:
    counters = Counters()
    counters.serve((0, 0), (0, 0))
    counters.serve((0, 100), (1, 1000))
    assert "incident" not in counters.message


def test_a_canary_worse_than_stable_during_the_incident_is_rolled_back() -> None:
    counters = Counters()
    counters.serve((0, 0), (0, 0))
    outcomes = [counters.serve((60, 100), (200, 1000))[0] for _ in range(6)]
    assert outcomes[-1] is Outcome.FAIL


def test_a_canary_over_its_slo_while_stable_is_fine_is_rolled_back_and_never_accepted() -> None:
    counters = Counters()
    counters.serve((0, 0), (0, 0))
    outcome, accepted = Outcome.PASS, False
    for _ in range(60):
        outcome, accepted = counters.serve((3, 100), (3, 1000))
        assert not accepted
        if outcome is Outcome.FAIL:
            break
    assert outcome is Outcome.FAIL


def test_the_grey_zone_holds_acceptance_for_a_bounded_number_of_requests() -> None:
    counters = Counters()
    counters.serve((0, 0), (0, 0))
    for _ in range(2):  # early errors: leaning worse than stable, not proven
        outcome, accepted = counters.serve((1, 100), (0, 1000))
        assert outcome is Outcome.PASS and not accepted
    assert counters.progress.grey_entered == 200
    accepted = False
    ticks = 0
    while not accepted and ticks < 100:
        _, accepted = counters.serve((0, 100), (1, 1000))
        ticks += 1
    # accepted in bounded time: nothing holds a healthy canary forever, but not before it
    # served as many requests again and 3 / max more (300 at a 1% SLO)
    assert accepted
    assert counters.progress.count("canary_total") >= 200 + 300


def test_the_evidence_reads_as_a_plain_number_with_what_it_means() -> None:
    counters = Counters()
    counters.serve((0, 0), (0, 0))
    outcome = Outcome.PASS
    for _ in range(40):
        outcome, _ = counters.serve((10, 100), (1, 1000))
        if outcome is Outcome.FAIL:
            break
    assert outcome is Outcome.FAIL
    assert "; evidence the canary is worse " in counters.message
    assert counters.message.endswith(" (rollback at 200)") or "(rollback at 200);" in (
        counters.message
    )
    assert "e+" not in counters.message and "e-" not in counters.message
    # a conviction does not also say it waits for more requests
    assert counters.message.startswith("canary worse: ")
    assert "waits for more requests" not in counters.message
