"""Counter accumulation: baseline, increases, resets, new and vanished series, JSON."""

from __future__ import annotations

import json

from rollout.analysis.counts import CounterTrack


def test_increases_count_from_the_baseline() -> None:
    track = CounterTrack.baseline({"pod=a": 100.0})
    track, increase = track.advance({"pod=a": 130.0})
    assert increase == 30.0
    assert track.total == 30.0


def test_a_reset_counts_the_new_value_as_prometheus_does() -> None:
    track = CounterTrack.baseline({"pod=a": 100.0, "pod=b": 50.0})
    track, increase = track.advance({"pod=a": 7.0, "pod=b": 60.0})
    assert increase == 7.0 + 10.0


def test_a_new_series_started_at_zero_and_a_vanished_one_is_remembered() -> None:
    track = CounterTrack.baseline({"pod=a": 10.0})
    track, increase = track.advance({"pod=b": 4.0})
    assert increase == 4.0
    track, increase = track.advance({"pod=a": 12.0, "pod=b": 4.0})
    assert increase == 2.0, "pod a came back: only its increase counts"
    assert track.total == 6.0


def test_nan_and_negative_values_are_ignored() -> None:
    track = CounterTrack.baseline({"": 5.0})
    track, increase = track.advance({"": float("nan")})
    assert increase == 0.0
    track, increase = track.advance({"": 8.0})
    assert increase == 3.0


def test_round_trips_through_json() -> None:
    track, _ = CounterTrack.baseline({"pod=a": 1.0}).advance({"pod=a": 3.0})
    again = CounterTrack.from_dict(json.loads(json.dumps(track.as_dict())))
    assert again == track
