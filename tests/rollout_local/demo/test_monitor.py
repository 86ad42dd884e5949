"""How the demo prints a verdict: the controller's verdict in, one line of words out."""

from __future__ import annotations

from rollout_local.demo.monitor import VerdictNote, verdict_words


def note(outcome: str, reason: str, canary_requests: float) -> VerdictNote:
    return VerdictNote(
        at=0.0, outcome=outcome, reason=reason, canary_requests=canary_requests, promotable=False
    )


def test_the_baseline_tick_says_nothing_was_judged_yet() -> None:
    line = verdict_words(note("pass", "all checks pass; 0 canary requests so far", 0))
    assert line == "ok   baseline recorded: canary requests are counted from here (none yet)"


def test_a_pass_with_requests_keeps_its_reason() -> None:
    line = verdict_words(note("pass", "all checks pass; 29 canary requests so far", 29))
    assert line == "ok   all checks pass; 29 canary requests so far"


def test_inconclusive_reads_as_waiting_not_as_a_question() -> None:
    line = verdict_words(note("inconclusive", "no canary requests yet", 0))
    assert line == "wait no canary requests yet"
