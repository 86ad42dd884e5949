"""batch_form(): which templates have a batch form, what it queries, and how its answer
is split back into each workload's series. Pure: templates and series in, text and series
out (the equivalence against a real Prometheus is in ``test_batch.py``)."""

from __future__ import annotations

import pytest

from rollout.errors import TemplateError
from rollout.metrics.batch_query import batch_form
from rollout.ports import Series

CONTEXT = {"namespace": "shop", "workload": "a-v1", "window": "1m", "podLabel": "pod"}
ERRORS = (
    "sum by ({{ podLabel }}) (istio_requests_total{"
    'destination_workload_namespace="{{ namespace }}",'
    'destination_workload="{{ workload }}",response_code=~"5.."}) or on() vector(0)'
)
LABELS = (("destination_workload_namespace", "shop"),)


def test_the_matchers_select_every_member_and_the_groupings_keep_them_apart() -> None:
    form = batch_form(ERRORS, CONTEXT)
    assert form is not None
    query = form.query([("shop", "a-v1"), ("shop", "b-v2"), ("web", "a-v1")])
    assert 'destination_workload_namespace=~"shop|web"' in query
    assert 'destination_workload=~"a-v1|b-v2"' in query
    assert "sum by (pod, destination_workload_namespace, destination_workload)" in query
    assert "or on (destination_workload_namespace, destination_workload) vector(0)" in query


def test_dots_in_names_are_literal_in_the_regex() -> None:
    form = batch_form(ERRORS, CONTEXT)
    assert form is not None
    assert 'destination_workload=~"a\\\\.b"' in form.query([("shop", "a.b")])


@pytest.mark.parametrize("value", ["a|b", "a b", "", "a\n", 'a"', "a\\.b"])
def test_a_value_that_is_not_a_plain_name_is_never_put_in_the_regex(value: str) -> None:
    form = batch_form(ERRORS, CONTEXT)
    assert form is not None
    with pytest.raises(TemplateError, match="cannot be put in a regex matcher"):
        form.query([("shop", "a-v1"), ("shop", value)])
    assert 'destination_workload=~"a-v1|c\\\\.d:e_f"' in form.query(
        [("shop", "a-v1"), ("shop", "c.d:e_f")]
    )


def test_the_split_gives_each_member_its_own_series_without_the_added_labels() -> None:
    form = batch_form(ERRORS, CONTEXT)
    assert form is not None
    answer = [
        Series((("destination_workload", "a-v1"), *LABELS, ("pod", "p1")), 3.0),
        Series((("destination_workload", "a-v1"), *LABELS, ("pod", "p2")), 4.0),
        Series((("destination_workload", "other"), *LABELS, ("pod", "p9")), 9.0),
        Series((), 0.0),  # the vector(0) fallback
    ]
    split = form.split(answer, [("shop", "a-v1"), ("shop", "b-v2")])
    assert split[("shop", "a-v1")] == (
        Series((("pod", "p1"),), 3.0),
        Series((("pod", "p2"),), 4.0),
    )
    assert split[("shop", "b-v2")] == (Series((), 0.0),)  # as `or on() vector(0)` gives it


def test_members_without_series_and_without_a_fallback_get_nothing() -> None:
    total = ERRORS.replace(" or on() vector(0)", "")
    form = batch_form(total, CONTEXT)
    assert form is not None
    assert form.split([], [("shop", "a-v1")]) == {("shop", "a-v1"): ()}


def test_members_must_share_every_other_placeholder() -> None:
    template = (
        'histogram_quantile(0.99, sum by (le) (rate(x{ns="{{ namespace }}",'
        'w="{{ workload }}"}[{{ window }}])))'
    )
    one = batch_form(template, CONTEXT)
    other = batch_form(template, {**CONTEXT, "workload": "b-v1"})
    longer = batch_form(template, {**CONTEXT, "window": "2m"})
    assert one is not None and other is not None and longer is not None
    assert one.key == other.key != longer.key


@pytest.mark.parametrize(
    "template",
    [
        'sum(x{w="{{ workload }}"})',  # aggregation without by: one series for all members
        'sum(x{w="{{ workload }}"}) by (pod)',  # grouping after the argument
        'x{w="{{ workload }}"} or vector(0)',  # a fallback not matched on labels
        'scalar(sum by (pod) (x{w="{{ workload }}"}))',
        'absent(x{w="{{ workload }}"})',
        'x{w=~"{{ workload }}.*"}',  # the placeholder outside an equality matcher
        'x{w="{{ workload }}"} / on(pod) group_left y{w="{{ workload }}"}',
        'sum without (w) (x{w="{{ workload }}"})',
        'x{a="{{ workload }}"} / x{b="{{ workload }}"}',  # one placeholder, two labels
        'x{ns="{{ namespace }}"}',  # no workload: nothing to batch over
    ],
)
def test_templates_the_rewrite_cannot_prove_equivalent_have_no_batch_form(template: str) -> None:
    assert batch_form(template, CONTEXT) is None
