"""How the demo prints a verdict: the controller's verdict in, one line of words out."""

from __future__ import annotations

from rollout.analysis.count_check import BASELINE_MESSAGE
from rollout.analysis.verdicts import Evidence, Outcome
from rollout.state import VerdictRecord
from rollout_local.demo.monitor import VerdictNote, verdict_note, verdict_words


def note(
    outcome: str, reason: str, canary_requests: float, *, baseline: bool = False
) -> VerdictNote:
    return VerdictNote(
        at=0.0,
        outcome=outcome,
        reason=reason,
        canary_requests=canary_requests,
        promotable=False,
        baseline=baseline,
    )


def test_the_baseline_tick_says_nothing_was_judged_yet() -> None:
    line = verdict_words(note("pass", "all checks pass", 0, baseline=True))
    assert line == "ok   baseline recorded: canary requests are counted from here (none yet)"


def test_a_later_pass_before_the_first_scraped_request_is_no_baseline() -> None:
    reason = "all checks pass; not yet shown within the SLOs; 0 canary requests so far"
    line = verdict_words(note("pass", reason, 0))
    assert line == f"ok   {reason}"


def test_a_pass_with_requests_keeps_its_reason() -> None:
    line = verdict_words(note("pass", "all checks pass; 29 canary requests so far", 29))
    assert line == "ok   all checks pass; 29 canary requests so far"


def test_inconclusive_reads_as_waiting_not_as_a_question() -> None:
    line = verdict_words(note("inconclusive", "no canary requests yet", 0))
    assert line == "wait no canary requests yet"


def stored(message: str, reason: str) -> VerdictNote:
    """A pass whose one check says ``message``, as the Rollout's status holds it."""
    evidence = Evidence("istio-error-ratio", "errors", Outcome.PASS, message)
    record = VerdictRecord(outcome="pass", reason=reason, at=1.0, evidence=[evidence.as_dict()])
    return verdict_note(record.model_dump())


def test_the_baseline_is_read_from_the_checks_own_words() -> None:
    first = stored(BASELINE_MESSAGE, "all checks pass")
    assert first.baseline
    assert "baseline recorded" in verdict_words(first)
    later = stored("canary 0 errors in 0 requests", "all checks pass; 0 canary requests so far")
    assert not later.baseline
    assert verdict_words(later) == "ok   all checks pass; 0 canary requests so far"
