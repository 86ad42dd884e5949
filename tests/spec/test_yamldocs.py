"""YAML loading keeps the line of every field and reports syntax errors with their line."""

from __future__ import annotations

import pytest

from rollout.spec.yamldocs import YamlSyntaxError, load_documents


def test_lines_of_fields_and_documents() -> None:
    text = "a: 1\nb:\n  - x: 2\n    y: 3\n---\n# comment\nc: [1, 2]\n"
    first, second = load_documents(text, "f.yaml")
    assert first.body == {"a": 1, "b": [{"x": 2, "y": 3}]}
    assert first.line_of(("b", 0, "y")) == 4
    assert first.line_of(("b", 0, "missing")) == 3
    assert second.start_line == 7
    assert second.index == 1


def test_empty_documents_are_skipped() -> None:
    assert [d.body for d in load_documents("---\n---\na: 1\n", "f")] == [{"a": 1}]


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("a: 1\na: 2\n", 2, "duplicate key 'a'"),
        ("a: [1\n", 1, "invalid YAML"),
        ("a: 1\n  b: 2\n", 2, "invalid YAML"),
    ],
)
def test_syntax_errors_name_the_line(text: str, line: int, fragment: str) -> None:
    with pytest.raises(YamlSyntaxError) as caught:
        load_documents(text, "f.yaml")
    assert caught.value.line == line
    assert fragment in str(caught.value)


def test_merge_keys_and_tags_still_resolve() -> None:
    text = "base: &b {a: 1}\nuse:\n  <<: *b\n  c: 2\nflags: [yes, 1.5, ~, '3']\n"
    (document,) = load_documents(text, "f.yaml")
    assert document.body["use"] == {"a": 1, "c": 2}
    assert document.body["flags"] == [True, 1.5, None, "3"]
    assert document.line_of(("use", "c")) == 4
