"""Canary and stable counts over the same time: intervals cut on Prometheus sample times.

Each pod's counters are scraped at their own moments, and a late target's samples can be
minutes old. Taking "whatever each series shows now" pairs a canary interval with a stable
interval that covers other seconds: a shared incident then lands on one version only, and
the comparison test sees a difference that is not there. Here an interval ends at a *cut*,
and the cut moves only to a time that every live series of both versions has a sample at
or past; each series' counter at the cut is interpolated between its samples around it.
Canary and stable counts of one interval then cover the same seconds, up to the spread of
requests inside one scrape interval.

Counter resets (a restarted pod) are folded into a monotone value per series, as
Prometheus' ``increase()`` does; a series seen first after the baseline started at zero; a
series silent for ``STALE_SECONDS`` stops holding the cut back (a pod that went away).
Readings without sample times use the tick number as their time, which aligns nothing and
closes one interval per tick. Pure code; the state round-trips through JSON.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, NamedTuple

__all__ = ["MAX_SAMPLES", "STALE_SECONDS", "Interval", "SeriesTrack", "Timeline"]

STALE_SECONDS = 120.0
"""A series this far behind the newest sample no longer holds the cut back."""

MAX_SERIES = 200
"""Series remembered per counter of one version; beyond that the oldest are forgotten."""


MAX_SAMPLES = 16
"""Samples kept per series since the last cut (a late series holds the cut back)."""


class SeriesTrack(NamedTuple):
    """One counter series: its samples since the last cut (monotone values), its value there.

    ``samples`` starts with the last sample at or before the cut, so the value at any later
    cut can be interpolated between the two samples around it. A named tuple: every tick
    makes a few of these per series, and a tuple is the cheapest immutable record.
    """

    samples: tuple[tuple[float, float], ...]
    at_cut: float
    offset: float = 0.0
    raw: float = 0.0

    @property
    def last(self) -> tuple[float, float]:
        return self.samples[-1]

    def as_list(self) -> list[float]:
        flat = [self.at_cut, self.offset, self.raw]
        for time, value in self.samples:
            flat += (time, value)
        return flat

    @classmethod
    def from_list(cls, data: list[float]) -> SeriesTrack:
        at_cut, offset, raw, *flat = (float(x) for x in data)
        samples = tuple(zip(flat[0::2], flat[1::2], strict=True))
        return cls(samples or ((0.0, at_cut),), at_cut, offset, raw)


@dataclasses.dataclass(frozen=True)
class Interval:
    """Counts of one aligned interval: per version ``(bad, total)``, and per series: stable's
    ``(bad, total)`` and the canary's ``(key, bad, total)``, for series that served requests."""

    seconds: float
    canary: tuple[float, float]
    stable: tuple[float, float]
    stable_cells: tuple[tuple[float, float], ...]
    canary_cells: tuple[tuple[str, float, float], ...] = ()


@dataclasses.dataclass(frozen=True)
class Timeline:
    """Every counter series of one policy, keyed ``version.field`` then series key."""

    tracks: Mapping[str, Mapping[str, SeriesTrack]] = dataclasses.field(default_factory=dict)
    cut: float | None = None

    def advance(
        self, readings: Mapping[str, tuple[Mapping[str, float], Mapping[str, float]]]
    ) -> tuple[Timeline, Interval | None]:
        """Add one tick's ``{version.field: (series, stamps)}``; close an interval if possible.

        The first call records the baseline: nothing before it is counted. Called for every
        policy of every rollout at every tick, so the per-series steps are written out here
        rather than as methods of ``SeriesTrack`` (a call and a returned tuple per series
        per tick): a new sample extends a track (a counter reset folds the value before it
        into the offset), and a cut interpolates each track's value at the cut between
        its samples around it and keeps the samples from the last one at or before it.
        """
        baseline = self.cut is None
        tracks: dict[str, dict[str, SeriesTrack]] = {k: dict(v) for k, v in self.tracks.items()}
        for name, (series, stamps) in readings.items():
            known = tracks.get(name)
            if known is None:
                known = tracks[name] = {}
            for key, value in series.items():
                if value != value or value < 0:  # NaN or negative: not a counter value
                    continue
                time = stamps[key]
                track = known.get(key)
                if track is None:
                    if baseline:
                        known[key] = SeriesTrack(((time, value),), value, 0.0, value)
                    else:
                        since = min(time, self.cut if self.cut is not None else time)
                        first: tuple[tuple[float, float], ...] = (
                            ((since, 0.0), (time, value)) if time > since else ((time, value),)
                        )
                        known[key] = SeriesTrack(first, 0.0, 0.0, value)
                    continue
                samples, at_cut, offset, raw = track
                if time <= samples[-1][0]:
                    continue
                if value < raw:
                    offset += raw
                if len(samples) >= MAX_SAMPLES:
                    samples = samples[1 - MAX_SAMPLES :]
                known[key] = SeriesTrack((*samples, (time, value + offset)), at_cut, offset, value)
            while len(known) > MAX_SERIES:
                known.pop(next(iter(known)))
        newest: float | None = None
        totals: list[float] = []
        for name, known in tracks.items():
            times = [track.samples[-1][0] for track in known.values()]
            if times:
                latest = max(times)
                newest = latest if newest is None or latest > newest else newest
            if name.endswith(".total"):
                totals += times
        if newest is None:
            return Timeline(tracks, self.cut), None
        if baseline:
            return Timeline(tracks, newest), None
        stale = newest - STALE_SECONDS
        cut = min([time for time in totals if time >= stale], default=newest)
        previous_cut = self.cut if self.cut is not None else cut
        if cut <= previous_cut:
            return Timeline(tracks, self.cut), None
        increases: dict[str, dict[str, float]] = {}
        for name, known in tracks.items():
            moved = increases.setdefault(name, {})
            for key, (samples, at_cut, offset, raw) in known.items():
                newest_index = len(samples) - 1
                keep = newest_index
                while keep > 0 and samples[keep][0] > cut:
                    keep -= 1
                t0, value = samples[keep]
                if cut > t0 and keep < newest_index:
                    t1, v1 = samples[keep + 1]
                    value += (v1 - value) * (cut - t0) / (t1 - t0)
                if keep == 0 and value == at_cut:
                    moved[key] = 0.0
                    continue
                increase = value - at_cut
                moved[key] = increase if increase > 0.0 else 0.0
                known[key] = SeriesTrack(samples[keep:] if keep else samples, value, offset, raw)
        interval = Interval(
            seconds=cut - previous_cut,
            canary=_counts(increases, "canary"),
            stable=_counts(increases, "stable"),
            stable_cells=tuple((bad, total) for _, bad, total in _cells(increases, "stable")),
            canary_cells=_cells(increases, "canary"),
        )
        return Timeline(tracks, cut), interval

    def as_dict(self) -> dict[str, Any]:
        return {
            "cut": self.cut,
            "tracks": {
                name: {key: track.as_list() for key, track in known.items()}
                for name, known in self.tracks.items()
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Timeline:
        tracks = {
            str(name): {str(key): SeriesTrack.from_list(list(v)) for key, v in dict(known).items()}
            for name, known in dict(data.get("tracks", {})).items()
        }
        cut = data.get("cut")
        return cls(tracks=tracks, cut=None if cut is None else float(cut))


def _counts(increases: Mapping[str, Mapping[str, float]], version: str) -> tuple[float, float]:
    return (
        sum(increases.get(f"{version}.bad", {}).values()),
        sum(increases.get(f"{version}.total", {}).values()),
    )


def _cells(
    increases: Mapping[str, Mapping[str, float]], version: str
) -> tuple[tuple[str, float, float], ...]:
    bad = increases.get(f"{version}.bad", {})
    return tuple(
        (key, bad.get(key, 0.0), total)
        for key, total in increases.get(f"{version}.total", {}).items()
        if total > 0
    )
