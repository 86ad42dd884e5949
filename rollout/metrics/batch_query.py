"""One policy query for many workloads: the PromQL rewrite and the split of its answer.

A policy template selects one workload, e.g. ``sum by (pod) (istio_requests_total{
destination_workload_namespace="{{ namespace }}",destination_workload="{{ workload }}"})``.
Asked for a thousand rollouts, that is thousands of queries per tick. The batch form of
the same template selects every workload at once and keeps the workload labels apart:

- each ``label="{{ namespace }}"``/``label="{{ workload }}"`` matcher becomes a regex
  matcher over the members' values (``label=~"a|b"``);
- the labels of those matchers are added to every ``by (...)`` grouping and ``on (...)``
  matching, so one answer holds every member's series, told apart by those labels;
- ``A or on() vector(0)`` keeps its meaning per member: the unlabelled ``vector(0)``
  series goes to each member that has no series of its own.

Splitting the answer gives each member exactly the series the single-workload query would
have returned (the added labels are dropped again). A template the rewrite cannot prove
equivalent (an aggregation without ``by``, ``ignoring``, ``group_left``, ``scalar``,
``absent``, a placeholder outside an equality matcher...) has no batch form and is queried
per rollout as before. Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import operator
import re
from collections.abc import Iterable, Mapping
from typing import Generic, NamedTuple, TypeVar

from rollout.errors import TemplateError
from rollout.ports import Series
from rollout.spec.policy import placeholders, render

__all__ = ["BATCH_KEYS", "BatchForm", "Forms", "Member", "RawSeries", "batch_form"]

BATCH_KEYS = ("namespace", "workload")
"""Placeholders whose values differ between the members of one batch."""

Member = tuple[str, ...]
"""A member's values of the batch placeholders the template uses, in ``BATCH_KEYS`` order."""

V = TypeVar("V")
"""What an answer holds per series: a value (instant queries) or points (range queries)."""

_MARK = "__rollout_batch_{}__"
_MATCHER = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"__rollout_batch_(\w+?)__"')
_AGGREGATION = re.compile(
    r"\b(sum|min|max|avg|group|stddev|stdvar|count|count_values|bottomk|topk|quantile|"
    r"limitk|limit_ratio)\s*(\(|by\b|without\b)"
)
_GROUPING = re.compile(r"\b(by|on)\s*\(([^()]*)\)")
_WITHOUT = re.compile(r"\b(without|ignoring)\s*\(([^()]*)\)")
_VECTOR = re.compile(r"\bvector\s*\(")
_VECTOR_AFTER_ON = re.compile(r"\bon\s*\([^()]*\)\s*vector\s*\(")
_REFUSED = re.compile(
    r"\b(group_left|group_right|scalar|absent|absent_over_time|label_replace|label_join)\b"
)
_VALUE = r"[A-Za-z0-9_.:-]+"
_VALUES = re.compile(rf"{_VALUE}(?:\|{_VALUE})*")
"""Values of a batch placeholder, joined by "|": each one a label value safe in a regex."""


@dataclasses.dataclass(frozen=True)
class BatchForm:
    """A template's batch form for one group of rollouts."""

    key: tuple[str, ...]
    """What members must share: the template and the values of its other placeholders."""
    text: str
    """The query with ``__rollout_batch_<key>__`` where the members' regex goes."""
    labels: tuple[tuple[str, str], ...]
    """(placeholder, label name) of each batch placeholder the template uses."""
    added: frozenset[str]
    """Labels the rewrite added to a ``by`` grouping: dropped again when splitting."""

    def member(self, context: Mapping[str, object]) -> Member:
        return tuple(str(context[name]) for name, _ in self.labels)

    def query(self, members: Iterable[Member]) -> str:
        """The batch query selecting every one of ``members``."""
        chosen = set(members)
        text = self.text
        for index, (name, _) in enumerate(self.labels):
            # one check and one escape over the joined values: with no "|" but the
            # separators, that is each value checked and escaped on its own
            values = sorted({member[index] for member in chosen})
            joined = "|".join(values)
            if values and (joined.count("|") != len(values) - 1 or not _VALUES.fullmatch(joined)):
                raise TemplateError(f"a {name} value cannot be put in a regex matcher")
            text = text.replace(_MARK.format(name), joined.replace(".", "\\\\."))
        return text

    def split(
        self, series: Iterable[Series], members: Iterable[Member]
    ) -> dict[Member, tuple[Series, ...]]:
        """Each member's series, as its own single-workload query would have given them."""
        return self.split_vector(((dict(item.labels), item.value) for item in series), members)

    def split_vector(
        self, vector: Iterable[tuple[Mapping[str, str], float]], members: Iterable[Member]
    ) -> dict[Member, tuple[Series, ...]]:
        """``split`` of an answer whose labels are still mappings."""
        grouped = self.group_vector(vector, members)
        return {member: self.series_of(raw) for member, raw in grouped.items()}

    def group_vector(
        self, vector: Iterable[tuple[Mapping[str, str], V]], members: Iterable[Member]
    ) -> dict[Member, RawSeries[V]]:
        """Each member's share of an answer, still as Prometheus sent it: one cheap pass over
        a vector that names every member of the batch (thousands of series at a thousand
        rollouts); ``series_of`` builds a member's series when it asks for them, so the
        members an answer never serves cost nothing more. A range query's matrix is grouped
        the same way, each series with its points."""
        pick = operator.itemgetter(*[label for _, label in self.labels])
        single = len(self.labels) == 1
        unlabelled: list[tuple[Mapping[str, str], V]] = []
        # every member without a series of its own shares one share (filled in place with
        # the unlabelled series below): no list and no record per member of a large batch
        shares: dict[Member, RawSeries[V]] = dict.fromkeys(members, RawSeries([], unlabelled))
        own: dict[Member, list[tuple[Mapping[str, str], V]]] = {}
        for item in vector:
            try:
                found = pick(item[0])
            except KeyError:
                unlabelled.append(item)
                continue
            member = (found,) if single else found
            kept = own.get(member)
            if kept is not None:
                kept.append(item)
            elif member in shares:
                own[member] = [item]
        for member, items in own.items():
            shares[member] = RawSeries(items, unlabelled)
        return shares

    def series_of(self, raw: RawSeries[float]) -> tuple[Series, ...]:
        """A member's series from its share of the answer, the added labels dropped (the
        answer's unlabelled series, the ``vector(0)`` fallback, when it has none)."""
        return tuple(Series(labels=labels, value=value) for labels, value in self.kept(raw))

    def kept(self, raw: RawSeries[V]) -> list[tuple[tuple[tuple[str, str], ...], V]]:
        """A member's share as its own query would have answered: each series' labels,
        sorted, without the labels the rewrite added (the answer's unlabelled series when
        the member has none of its own)."""
        if not raw.own:
            return [(tuple(sorted(labels.items())), value) for labels, value in raw.unlabelled]
        added = self.added
        return [
            (tuple(sorted([pair for pair in labels.items() if pair[0] not in added])), value)
            for labels, value in raw.own
        ]


class RawSeries(NamedTuple, Generic[V]):
    """A member's share of a batch answer before its series are built (a tuple: a batch
    makes one per member that has series, thousands at a thousand rollouts)."""

    own: list[tuple[Mapping[str, str], V]]
    """The series naming the member (shared and empty for every member without any)."""
    unlabelled: list[tuple[Mapping[str, str], V]]
    """The answer's series naming no member (shared by every member of the answer)."""


_UNKNOWN = object()


class Forms:
    """Each template's batch form, found once per value of its other placeholders (the
    batch keys aside, the form depends on nothing else)."""

    MAX_KEPT = 200_000

    def __init__(self) -> None:
        self._forms: dict[tuple[str, tuple[str | None, ...]], BatchForm | None] = {}
        self._others: dict[str, tuple[str, ...]] = {}
        """Each template's placeholders other than the batch keys."""

    def find(self, template: str, context: Mapping[str, object]) -> BatchForm | None:
        """``batch_form(template, context)``, from memory after the first time. No lock:
        one dict read or write at a time is atomic, and two callers that build the same
        form at once build equal ones."""
        used = self._others.get(template)
        if used is None:
            used = self._others[template] = tuple(
                sorted({name for name in placeholders(template) if name not in BATCH_KEYS})
            )
        values = tuple(str(context[name]) if name in context else None for name in used)
        signature = (template, values)
        form = self._forms.get(signature, _UNKNOWN)
        if form is _UNKNOWN:
            form = batch_form(template, context)
            if len(self._forms) > self.MAX_KEPT:
                self._forms.clear()
            self._forms[signature] = form
        return form if isinstance(form, BatchForm) else None


def batch_form(template: str, context: Mapping[str, object]) -> BatchForm | None:
    """The batch form of ``template`` (rendered with ``context`` but for the batch
    placeholders), or None when the rewrite cannot be proved equivalent."""
    used = placeholders(template)
    batched = [name for name in BATCH_KEYS if name in used]
    if "workload" not in batched:
        return None
    marked = {**context, **{name: _MARK.format(name) for name in batched}}
    try:
        text = render(template, marked)
    except TemplateError:
        return None
    matchers = _MATCHER.findall(text)
    label_of: dict[str, str] = {}
    for label, name in matchers:
        if label_of.setdefault(name, label) != label:
            return None  # one placeholder matched against two labels
    occurrences = sum(text.count(_MARK.format(name)) for name in batched)
    if occurrences != len(matchers) or set(label_of) != set(batched):
        return None  # a placeholder outside an equality matcher
    if _REFUSED.search(text) or not _aggregations_grouped(text):
        return None
    labels = tuple((name, label_of[name]) for name in batched)
    label_names = [label for _, label in labels]
    for match in _WITHOUT.finditer(text):
        if set(_names(match.group(2))) & set(label_names):
            return None
    if len(_VECTOR.findall(text)) != len(_VECTOR_AFTER_ON.findall(text)):
        return None  # a vector() fallback not matched on labels has no per-member meaning
    added: set[str] = set()

    def widen(match: re.Match[str]) -> str:
        present = _names(match.group(2))
        missing = [name for name in label_names if name not in present]
        if match.group(1) == "by":
            added.update(missing)
        return f"{match.group(1)} ({', '.join([*present, *missing])})"

    text = _GROUPING.sub(widen, text)
    text = _MATCHER.sub(lambda m: f'{m.group(1)}=~"{_MARK.format(m.group(2))}"', text)
    others = tuple(f"{name}={context.get(name)}" for name in used if name not in BATCH_KEYS)
    return BatchForm(
        key=(template, *sorted(set(others))), text=text, labels=labels, added=frozenset(added)
    )


def _names(listing: str) -> list[str]:
    return [name.strip() for name in listing.split(",") if name.strip()]


def _aggregations_grouped(text: str) -> bool:
    """Every aggregation names its grouping before its argument (``sum by (x) (...)``)."""
    return all(match.group(2) != "(" for match in _AGGREGATION.finditer(text))
