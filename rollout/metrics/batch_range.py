"""Stable's look-back for the rollouts that start in the same moment: one range query per
policy query, split per workload.

On a rollout's first tick the analyzer reads stable's counters over the last hour as range
queries (``rollout.metrics.look_back``): two per count policy. A push to a thousand
rollouts asked four thousand of them in front of the first weights. ``BatchedRanges`` sends
the batch form of the template (``rollout.metrics.batch_query``, as the instant batches do)
for every workload that asks for the same look-back, and splits the matrix per workload;
each rollout's history is what its own range query would have returned.

To be the same look-back, a range's end is put on its step's grid (the hour before the
rollout ends at most one step before its first tick, still before any canary traffic), so
every rollout that starts within one step asks for the same range. The first caller waits
``gather`` seconds for the others to join, then asks for everyone who joined; a workload
that joins while that query is out is asked for in the next one, with everyone who joined
meanwhile. Answers are kept for the last ``keep`` ranges, so a rollout that starts later
in the same step asks nothing, and forgotten once no rollout will ask them again. A
look-back first enrols every counter it may read (``join``), and the first query over a
range sends those of the other counters over the same times with it, so a look-back waits
for one gathering, not one per counter.

A sync that is about to start rollouts (a push) enrols their look-backs ahead of their first
ticks and asks them all at once (``ask_pending``, through ``MetricsAnalyzer.prepare``): one
query per counter for the whole push, while the specs are being mirrored. A first tick that
comes in the next step of the grid is still served by that answer: its hour then ends at
most two steps before the tick. A query that fails is the answer of the ticks that were
waiting for it; a tick that begins after it asks again, so a look-back that failed ahead
of a push, with no tick waiting, is asked by the first ticks themselves.
"""

from __future__ import annotations

import dataclasses
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from rollout.errors import MetricsError, TemplateError
from rollout.metrics import errors
from rollout.metrics.batch_query import BatchForm, Forms, Member, RawSeries
from rollout.ports import DEFAULT_QUERY_TIMEOUT, Series

if TYPE_CHECKING:  # the look-back is this module's caller
    from rollout.metrics.look_back import RangeProvider

__all__ = ["BatchedRanges"]

Points = tuple[tuple[float, float], ...]

_FALLBACK = re.compile(r"\bor\s+on\s*\([^()]*\)\s*vector\s*\(\s*([-+0-9.eE]+)\s*\)\s*$")
"""A batch form ending in ``or on (<the batch labels>) vector(N)`` (a template's ``or on()
vector(N)``, widened): its own range query has ``N`` at each step where the workload had
no series (see ``fallback``)."""


@dataclasses.dataclass
class _Range:
    """One template's batch form over one range: who asked, and what they got."""

    form: BatchForm
    window: tuple[float, float, float]
    """Start, end and step."""
    answered: dict[Member, RawSeries[Points]] = dataclasses.field(default_factory=dict)
    failed: dict[Member, tuple[MetricsError, float]] = dataclasses.field(default_factory=dict)
    """Members whose query failed, and when (monotonic): the answer of the ticks that were
    waiting for it. A tick that begins after a failure asks again (a look-back asked ahead
    of a push may fail with no tick waiting; the first ticks then ask their own)."""
    alone: set[Member] = dataclasses.field(default_factory=set)
    """Members whose batch could not be asked (refused, or a value no regex may hold):
    each asks its own query."""
    pending: set[Member] = dataclasses.field(default_factory=set)
    asking: threading.Event | None = None
    used: float = 0.0
    """When (monotonic) a rollout last asked for it."""


EXPIRE_STEPS = 3
"""A range is forgotten once its end is this many of its steps in the past and nobody asked
for it for ``IDLE_BEFORE_EXPIRY`` seconds: a rollout starting now asks a range ending at
most one step before its tick, so none asks that one again (a rollout whose worker waited
that long asks its own). Without this, the ranges of a push to a thousand rollouts (an
hour of points for every workload and counter) stayed in memory until 64 newer ranges
were asked: at the next pushes."""

IDLE_BEFORE_EXPIRY = 60.0


class BatchedRanges:
    """Answers single-workload range queries from one batch range query per template and
    range (:class:`rollout.metrics.look_back.RangeProvider` for look-backs)."""

    def __init__(
        self,
        provider: RangeProvider,
        *,
        gather: float = 0.2,
        keep: int = 64,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.provider = provider
        self.gather = gather
        self.keep = keep
        self._clock = clock
        self._monotonic = monotonic
        self._sweeper: threading.Timer | None = None
        self._forms = Forms()
        self._ranges: dict[tuple[object, ...], _Range] = {}
        self._unbatchable: set[tuple[str, ...]] = set()
        self._guard = threading.Lock()
        """Guards the ranges and their members; never held across a query."""
        self.queries_sent = 0

    @staticmethod
    def on_grid(start: float, end: float, step: float) -> tuple[float, float]:
        """The range of the same length whose end is the last step boundary at or before
        ``end``: the same for every rollout that starts within one step."""
        aligned = math.floor(end / step) * step if step > 0 else end
        return aligned - (end - start), aligned

    def join(
        self, template: str, context: Mapping[str, object], *, window: tuple[float, float, float]
    ) -> None:
        """Say ``context`` will ask for ``template`` over ``window`` (start, end, step)
        soon: the query asked for the range, or for another range over the same times,
        names it (a look-back enrols every counter it may read, then waits for one
        gathering, not one each)."""
        found = self._batchable(template, context, *window)
        if found is None:
            return
        form, member, grid, _ = found
        with self._guard:
            if self._answered(form, member, grid) is not None:
                return
            kept = self._range(form, grid)
            kept.failed.pop(member, None)  # enrolled anew: asked again
            kept.pending.add(member)

    def _batchable(
        self, template: str, context: Mapping[str, object], start: float, end: float, step: float
    ) -> tuple[BatchForm, Member, tuple[float, float, float], float | None] | None:
        """The batch form, the member, the range on the grid and the fallback's value; None
        when the template is asked per rollout."""
        form = self._forms.find(template, context)
        if form is None or form.key in self._unbatchable:
            return None
        batchable, fill = fallback(form)
        if not batchable:
            return None
        start, end = self.on_grid(start, end, step)
        return form, form.member(context), (start, end, step), fill

    def _answered(
        self, form: BatchForm, member: Member, window: tuple[float, float, float]
    ) -> _Range | None:
        """The range over ``window``, or else over the one a step before it, that holds
        ``member``'s answer; None when neither does. A look-back asked ahead of a rollout's
        first tick (``ask_pending``) still serves the tick that comes in the next step. Called
        under the guard."""
        start, end, step = window
        for earlier in (0.0, step):
            kept = self._ranges.get((form.key, start - earlier, end - earlier, step))
            if kept is not None and member in kept.answered:
                kept.used = self._monotonic()
                return kept
        return None

    def _range(self, form: BatchForm, window: tuple[float, float, float]) -> _Range:
        """The range of ``form`` over ``window``, made when missing (the oldest beyond
        ``keep`` forgotten). Called under the guard."""
        key = (form.key, *window)
        found = self._ranges.get(key)
        if found is None:
            found = self._ranges[key] = _Range(form, window)
            for stale in list(self._ranges)[: max(0, len(self._ranges) - self.keep)]:
                del self._ranges[stale]
            if self._sweeper is None:
                self._sweep_in(self._expiry(found) - self._clock())
        found.used = self._monotonic()
        return found

    @staticmethod
    def _expiry(kept: _Range) -> float:
        _, end, step = kept.window
        return end + EXPIRE_STEPS * step

    def _sweep_in(self, delay: float) -> None:
        """Look for ranges to forget in ``delay`` seconds. Called under the guard."""
        self._sweeper = threading.Timer(max(delay, 1.0), self.forget_expired)
        self._sweeper.daemon = True
        self._sweeper.start()

    def forget_expired(self) -> None:
        """Forget the ranges no rollout will ask again (``EXPIRE_STEPS``), and look again
        when the next one expires."""
        now, idle_since = self._clock(), self._monotonic() - IDLE_BEFORE_EXPIRY
        with self._guard:
            self._sweeper = None
            for key, kept in list(self._ranges.items()):
                if self._expiry(kept) <= now and kept.used <= idle_since and kept.asking is None:
                    del self._ranges[key]
            if self._ranges:
                next_expiry = min(self._expiry(kept) for kept in self._ranges.values())
                self._sweep_in(max(next_expiry - now, IDLE_BEFORE_EXPIRY / 2))

    def query_range(
        self,
        template: str,
        context: Mapping[str, object],
        *,
        start: float,
        end: float,
        step: float,
        timeout: float = DEFAULT_QUERY_TIMEOUT,
    ) -> dict[str, Points] | None:
        """``template`` rendered with ``context`` over ``start``..``end`` put on the grid
        (``on_grid``), per series key; None when it must be asked on its own (no batch
        form, or Prometheus refused the batch)."""
        batchable = self._batchable(template, context, start, end, step)
        if batchable is None:
            return None
        form, member, (start, end, step), fill = batchable
        began = self._monotonic()
        while True:
            with self._guard:
                answered = self._answered(form, member, (start, end, step))
                if answered is not None:
                    raw = answered.answered[member]
                    start, end, step = answered.window
                    break
                found = self._range(form, (start, end, step))
                failure = found.failed.pop(member, None)
                if failure is not None and failure[1] >= began:
                    raise failure[0]
                if member in found.alone or form.key in self._unbatchable:
                    return None
                if member not in found.pending:
                    found.pending.add(member)
                    self._enrol_siblings(found, member)
                flight = found.asking
                mine = flight is None
                if mine:
                    flight = found.asking = threading.Event()
            assert flight is not None
            if not mine:
                flight.wait(timeout)  # someone else's query may have named us
                continue
            try:
                time.sleep(self.gather)  # the rollouts starting with this one join meanwhile
                for sibling, theirs in self._claim_siblings(found):
                    threading.Thread(
                        target=self._ask_claimed,
                        args=(sibling, theirs, timeout),
                        name="range-sibling",
                        daemon=True,
                    ).start()
                self._ask(found, timeout=timeout)
            finally:
                self._landed(found, flight)
        own = RawSeries(raw.own, [])  # the batch's fallback is per step of all members
        found_series = {Series(labels, 0.0).key: points for labels, points in form.kept(own)}
        if fill is not None:
            covered = {round(t, 3) for _, points in raw.own for t, _ in points}
            missing = tuple(
                (t, fill) for t in _grid(start, end, step) if round(t, 3) not in covered
            )
            if missing:
                found_series[""] = missing
        return found_series

    def _enrol_siblings(self, found: _Range, member: Member) -> None:
        """``member`` asks ``found``'s template: it will ask the other templates of its
        look-back over the same range too (a look-back reads every counter of a policy).
        It is enrolled in the ranges other rollouts asked over that range, so the query
        asked for them now names it. Called under the guard."""
        for other in self._ranges.values():
            if other is found or other.window != found.window:
                continue
            if other.form.labels != found.form.labels:
                continue
            if member in other.answered or member in other.alone:
                continue
            other.failed.pop(member, None)  # its tick asks again, with this one
            other.pending.add(member)

    def _claim_siblings(self, found: _Range) -> list[tuple[_Range, threading.Event]]:
        """The other ranges over ``found``'s range with members waiting and no query out,
        each marked as asked: their queries go out with ``found``'s, at once."""
        return self._claim(lambda other: other is not found and other.window == found.window)

    def _claim(self, chosen: Callable[[_Range], bool]) -> list[tuple[_Range, threading.Event]]:
        """The ``chosen`` ranges with members waiting and no query out, each marked as
        asked."""
        claimed: list[tuple[_Range, threading.Event]] = []
        with self._guard:
            for kept in self._ranges.values():
                if chosen(kept) and kept.asking is None and kept.pending:
                    kept.asking = threading.Event()
                    claimed.append((kept, kept.asking))
        return claimed

    def ask_pending(self, *, timeout: float = DEFAULT_QUERY_TIMEOUT) -> None:
        """Ask now for every range with members enrolled (``join``) and no query out, all
        at once (the look-backs of rollouts about to start, enrolled ahead of their first
        ticks); back when all have landed."""
        threads = [
            threading.Thread(
                target=self._ask_claimed, args=(kept, flight, timeout), name="range-ahead"
            )
            for kept, flight in self._claim(lambda kept: True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _ask_claimed(self, found: _Range, flight: threading.Event, timeout: float) -> None:
        try:
            self._ask(found, timeout=timeout)
        finally:
            self._landed(found, flight)

    def _landed(self, found: _Range, flight: threading.Event) -> None:
        with self._guard:
            found.asking = None
        flight.set()

    def _ask(self, found: _Range, *, timeout: float) -> None:
        """Ask for everyone pending."""
        start, end, step = found.window
        with self._guard:
            members = sorted(found.pending)
            found.pending.clear()
        try:
            query = found.form.query(members)
            self.queries_sent += 1
            matrix = self.provider.query_range(
                query, start=start, end=end, step=step, timeout=timeout
            )
        except (errors.BadQuery, TemplateError) as refused:
            with self._guard:
                found.alone.update(members)
                if isinstance(refused, errors.BadQuery):
                    self._unbatchable.add(found.form.key)
            return
        except MetricsError as error:
            with self._guard:
                found.failed.update(dict.fromkeys(members, (error, self._monotonic())))
            return
        split = found.form.group_vector(matrix, members)
        with self._guard:
            found.answered.update(split)


def fallback(form: BatchForm) -> tuple[bool, float | None]:
    """Whether ``form`` can be batched over a range, and the value its ``or on()
    vector(N)`` fallback gives at each step where a workload had no series (None: none).

    Over a range the batch's fallback holds only at the steps where no member had a
    series, so each member's is rebuilt from the steps its own series miss; a ``vector``
    anywhere but at the end of the query has no such reading, and is asked per rollout."""
    found = _FALLBACK.search(form.text)
    if found is None:
        return "vector" not in form.text, None
    if form.text.count("vector") != 1:
        return False, None
    try:
        return True, float(found.group(1))
    except ValueError:
        return False, None


def _grid(start: float, end: float, step: float) -> list[float]:
    """The times a range query answers at: whole seconds from the start, as the client
    sends them, every ``step`` up to the end."""
    first, last = round(start), round(end)
    count = math.floor((last - first) / step) + 1 if step > 0 else 1
    return [first + index * step for index in range(max(0, count))]
