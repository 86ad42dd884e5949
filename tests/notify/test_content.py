"""What every alert says: severity, headline, facts and the check lines.

Input: notifications with failed, inconclusive and passing evidence. Output: the strings
that Slack, Teams and Discord all show.
"""

from __future__ import annotations

import dataclasses

from rollout.analysis.verdicts import Evidence, Outcome
from rollout.notify import content
from rollout.spec.alerts import AlertEvent
from tests.notify.samples import FAILED_CHECK, PASSED_CHECK, make_notification


def test_the_failed_check_line_has_every_number() -> None:
    assert content.check_title(FAILED_CHECK) == "Failed check: istio-error-ratio/error-ratio"
    assert content.check_detail(FAILED_CHECK) == (
        "value 0.052 against threshold 0.01 (stable 0.002, n=1200, p=0.0003): "
        "error ratio 5.2% is above 1%"
    )


def test_inconclusive_checks_are_reported_when_none_failed() -> None:
    unsure = Evidence(
        policy="istio-error-ratio",
        check="error-ratio",
        outcome=Outcome.INCONCLUSIVE,
        message="no data",
    )
    notification = dataclasses.replace(
        make_notification(event=AlertEvent.INCONCLUSIVE), evidence=(unsure, PASSED_CHECK)
    )

    assert content.reported_checks(notification) == (unsure,)
    assert ("Inconclusive check: istio-error-ratio/error-ratio", "no value: no data") in (
        content.facts(notification)
    )


def test_passing_checks_are_not_reported() -> None:
    labels = [label for label, _ in content.facts(make_notification())]

    assert not any("istio-latency-p99" in label for label in labels)


def test_numbers_have_no_float_noise() -> None:
    assert content.number(0.1 + 0.2) == "0.3"
    assert content.number(1200.0) == "1200"
    assert content.number(1.23456789e-5) == "1.23457e-05"


def test_headline_per_event() -> None:
    assert content.headline(make_notification(event=AlertEvent.PAUSED)) == (
        "Rollout shop/checkout: v2 paused at 20% until promoted; v1 still stable"
    )
    assert content.headline(make_notification(event=AlertEvent.ROLLED_BACK)) == (
        "Rollout shop/checkout: v2 rolled back, traffic back on v1"
    )
    assert content.headline(make_notification(event=AlertEvent.PROMOTED)) == (
        "Rollout shop/checkout: v2 promoted, replacing v1"
    )
    assert content.Severity.of(AlertEvent.FAILED) is content.Severity.DANGER
    assert content.Severity.DANGER.hex == "A30200"


def test_every_event_has_words_and_a_severity() -> None:
    for event in AlertEvent:
        line = content.headline(make_notification(event=event))
        assert line.startswith("Rollout shop/checkout: ")
        assert "->" not in line
        assert isinstance(content.Severity.of(event), content.Severity)
    invalid = content.headline(make_notification(event=AlertEvent.SPEC_INVALID))
    assert "invalid new spec" in invalid
    assert content.Severity.of(AlertEvent.SPEC_INVALID) is content.Severity.WARNING
