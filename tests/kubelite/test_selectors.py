"""Label and field selector parsing and matching, as the real server reads them.

Inputs: selector strings and objects with labels. Outputs: which objects match, and 400
errors for what the server cannot parse or does not index.
"""

from __future__ import annotations

from typing import Any

import pytest

from kubelite import selectors, status


def labelled(**labels: str) -> dict[str, Any]:
    return {"metadata": {"name": "x", "namespace": "ns", "labels": labels}}


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("a=b", {"a": "b"}, True),
        ("a==b", {"a": "c"}, False),
        ("a!=b", {}, True),
        ("e in (x, y)", {"e": "y"}, True),
        ("e notin (x,y)", {"e": "y"}, False),
        ("!f", {"f": ""}, False),
        ("g", {"g": ""}, True),
        ("a=b,c!=d,e in (x,y),!f,g", {"a": "b", "e": "x", "g": "1"}, True),
        ("a=b,c!=d,e in (x,y),!f,g", {"a": "b", "c": "d", "e": "x", "g": "1"}, False),
    ],
)
def test_label_selectors(selector: str, labels: dict[str, str], expected: bool) -> None:
    matchers = selectors.parse_label_selector(selector)
    assert selectors.match_all(matchers, labelled(**labels)) is expected


def test_field_selectors_and_unknown_fields() -> None:
    allowed = ("metadata.name", "metadata.namespace")
    obj = labelled()
    assert selectors.match_all(
        selectors.parse_field_selector("metadata.name=x", allowed=allowed), obj
    )
    assert not selectors.match_all(
        selectors.parse_field_selector("metadata.namespace!=ns", allowed=allowed), obj
    )
    with pytest.raises(status.ApiError) as raised:
        selectors.parse_field_selector("spec.replicas=1", allowed=allowed)
    assert raised.value.code == 400
    assert raised.value.message == (
        '"spec.replicas" is not a known field selector: only "metadata.name", "metadata.namespace"'
    )
