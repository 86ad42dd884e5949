"""The record kept on the VirtualService: from a state, to an annotation and back.

Inputs are states and annotation texts; outputs are records, annotation keys and JSON.
"""

from __future__ import annotations

import re

from rollout import route_record
from rollout.route_record import RouteRecord
from rollout.state import FailedRevision, Phase, RolloutState

ANNOTATION_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")


def test_a_state_round_trips_through_its_record() -> None:
    state = RolloutState(
        phase=Phase.PROGRESSING,
        stable_version="v1",
        canary_version="v2",
        canary_weight=20,
        step_index=1,
        revision="v2@abc",
        spec_hash="abc",
        failed=FailedRevision(version="v0", spec_hash="old", reason="x" * 1000, at=1.0),
    )
    record = route_record.record_of("shop/checkout", state)
    assert record is not None
    text = route_record.encode(record)
    back = route_record.decode(text, "shop/checkout")
    assert back == record
    assert (back.stable, back.canary, back.weight, back.step) == ("v1", "v2", 20, 1)
    assert back.failed is not None and len(back.failed.reason) == 300  # kept short
    assert route_record.encode(back) == text  # the same record, the same annotation


def test_no_record_before_a_stable_version_is_known() -> None:
    assert route_record.record_of("shop/checkout", RolloutState()) is None


def test_facts_ignore_the_step_so_analysis_steps_write_nothing() -> None:
    first = RouteRecord(rollout="a/b", stable="v1", canary="v2", weight=20, step=1)
    later = first.model_copy(update={"step": 2})
    assert first.facts() == later.facts()
    assert first.facts() != first.model_copy(update={"weight": 50}).facts()


def test_a_record_for_another_rollout_too_long_or_malformed_is_refused() -> None:
    mine = route_record.encode(RouteRecord(rollout="shop/checkout", stable="v1"))
    assert route_record.decode(mine, "shop/payments") is None
    assert route_record.decode("[]", "shop/checkout") is None
    assert route_record.decode('{"rollout": "shop/checkout"}', "shop/checkout") is None
    padded = mine[:-1] + ', "pad": "' + "x" * route_record.MAX_RECORD_CHARS + '"}'
    assert route_record.decode(padded, "shop/checkout") is None
    weight = mine.replace('"weight":0', '"weight":101')
    assert weight != mine
    assert route_record.decode(weight, "shop/checkout") is None


def test_annotation_keys_are_valid_and_distinct_even_for_long_names() -> None:
    short = route_record.annotation_key("shop", "checkout")
    assert short == "state.canary.rollout.dev/shop.checkout"
    long_a = route_record.annotation_key("shop", "a" * 200)
    long_b = route_record.annotation_key("shop", "a" * 199 + "b")
    assert long_a != long_b
    for key in (short, long_a, long_b):
        prefix, name = key.split("/")
        assert prefix == route_record.ANNOTATION_PREFIX
        assert len(name) <= 63 and ANNOTATION_NAME.match(name)
