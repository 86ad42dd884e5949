"""Aligned intervals: counters with sample times in, canary and stable counts over one span out.

Inputs are per-series readings (value and sample time) tick after tick; outputs are the
closed intervals and the state, which must survive JSON.
"""

from __future__ import annotations

import json

import pytest

from rollout.analysis.alignment import Interval, Timeline


def readings(
    canary: dict[str, tuple[float, float]], stable: dict[str, tuple[float, float]]
) -> dict[str, tuple[dict[str, float], dict[str, float]]]:
    """``{pod: (total, sample time)}`` per version as the timeline's input (no errors)."""
    out = {}
    for version, series in (("canary", canary), ("stable", stable)):
        out[f"{version}.total"] = (
            {k: v for k, (v, _) in series.items()},
            {k: t for k, (_, t) in series.items()},
        )
    return out


def test_the_first_reading_is_the_baseline_and_counts_nothing() -> None:
    timeline, interval = Timeline().advance(readings({"c": (500, 10)}, {"s": (9000, 12)}))
    assert interval is None
    assert timeline.cut == 12


def test_an_interval_closes_only_when_every_series_has_a_sample_past_the_cut() -> None:
    timeline, _ = Timeline().advance(readings({"c": (0, 0)}, {"s": (0, 0), "late": (0, 0)}))
    # the late stable pod has not been scraped again: nothing can close yet
    timeline, interval = timeline.advance(readings({"c": (30, 30)}, {"s": (300, 30)}))
    assert interval is None
    timeline, interval = timeline.advance(
        readings({"c": (60, 60)}, {"s": (600, 60), "late": (150, 15)})
    )
    assert interval is not None
    assert interval.seconds == 15
    # every series interpolated at the cut (t=15): the canary 15, the stable pods 150 + 150
    assert interval.canary[0] == 0 and interval.canary[1] == pytest.approx(15)
    assert interval.stable[0] == 0 and interval.stable[1] == pytest.approx(300)


def test_a_counter_reset_counts_the_new_value() -> None:
    timeline, _ = Timeline().advance(readings({"c": (100, 0)}, {"s": (100, 0)}))
    timeline, interval = timeline.advance(readings({"c": (150, 10)}, {"s": (200, 10)}))
    assert interval is not None and interval.canary[1] == 50
    timeline, interval = timeline.advance(readings({"c": (20, 20)}, {"s": (300, 20)}))
    assert interval is not None and interval.canary[1] == 20


def test_a_series_that_appears_later_counts_in_full() -> None:
    timeline, _ = Timeline().advance(readings({"c": (10, 0)}, {"s": (10, 0)}))
    timeline, interval = timeline.advance(readings({"c": (20, 10), "c2": (5, 10)}, {"s": (20, 10)}))
    assert interval is not None and interval.canary[1] == 15


def test_a_series_gone_silent_stops_holding_the_cut_back() -> None:
    timeline, _ = Timeline().advance(readings({"c": (0, 0)}, {"s": (0, 0), "gone": (5, 0)}))
    interval: Interval | None = None
    for second in range(15, 300, 15):
        timeline, closed = timeline.advance(
            readings({"c": (second, second)}, {"s": (second, second)})
        )
        interval = closed or interval
    assert interval is not None and timeline.cut is not None and timeline.cut > 150


def test_the_timeline_survives_json() -> None:
    timeline, _ = Timeline().advance(readings({"c": (1, 1)}, {"s": (2, 1)}))
    timeline, _ = timeline.advance(readings({"c": (3, 16)}, {"s": (4, 16)}))
    again = Timeline.from_dict(json.loads(json.dumps(timeline.as_dict())))
    assert again == timeline
