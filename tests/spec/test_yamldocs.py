"""YAML loading keeps the line of every field and reports syntax errors with their line."""

from __future__ import annotations

import pytest

from rollout.spec.yamldocs import YamlSyntaxError, load_documents
from tests.spec.hostile import billion_laughs


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


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("a: &a [*a]\n", 1, "recursive alias *a: it refers to itself"),
        ("a: &a\n  b:\n    c: *a\n", 3, "recursive alias *a: it refers to itself"),
        ("a: &a {<<: *a}\n", 1, "recursive alias *a: it refers to itself"),
        ("a: &a [&a [1]]\n", 1, "anchor &a is defined inside itself"),
        ("a: 1\nb: *nowhere\n", 2, "alias *nowhere names no anchor before it"),
    ],
)
def test_recursive_and_dangling_aliases_are_refused_at_their_line(
    text: str, line: int, message: str
) -> None:
    with pytest.raises(YamlSyntaxError) as caught:
        load_documents(text, "f.yaml")
    assert (caught.value.line, str(caught.value)) == (line, message)


def test_exponential_aliases_are_refused_once_they_stand_for_too_many_values() -> None:
    with pytest.raises(YamlSyntaxError) as caught:
        load_documents(billion_laughs(), "lol.yaml")
    assert caught.value.line == 6  # 10**5 values at a5: the first level over the budget
    assert "more than 100000 values in one document" in str(caught.value)


def test_exponential_merge_keys_are_refused_too() -> None:
    text = "a0: &a0 {x: 1}\n" + "".join(
        f"a{i}: &a{i} {{<<: [*a{i - 1}, *a{i - 1}], k{i}: 1}}\n" for i in range(1, 40)
    )
    with pytest.raises(YamlSyntaxError, match="more than 100000 values"):
        load_documents(text, "f.yaml")


def test_aliases_within_the_budget_still_expand() -> None:
    (document,) = load_documents(billion_laughs(levels=3), "f.yaml")
    assert len(document.body["a3"]) == 10
    assert document.body["a3"][9][9] == ["lol"] * 10
    assert document.line_of(("a3", 4, 2)) == 4  # an alias's values share its line


def test_the_value_budget_and_the_depth_can_be_set() -> None:
    with pytest.raises(YamlSyntaxError, match="more than 5 values"):
        load_documents("a: [1, 2, 3, 4, 5]\n", "f.yaml", max_values=5)
    with pytest.raises(YamlSyntaxError, match="nested deeper than 3 levels") as caught:
        load_documents("a:\n  b:\n    c:\n      d: 1\n", "f.yaml", max_depth=3)
    assert caught.value.line == 4


@pytest.mark.parametrize("depth", [65, 999, 100_000])
def test_deep_nesting_is_refused_without_recursion(depth: int) -> None:
    with pytest.raises(
        YamlSyntaxError, match=r"nested deeper than 64 levels|exceeded maximum nesting depth"
    ):
        load_documents("a: " + "[" * depth + "]" * depth + "\n", "f.yaml")


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("a: " + "9" * 5000 + "\n", 1, "not a valid !!int value"),
        ("a: 1\nb: 2024-13-45\n", 2, "not a valid !!timestamp value"),
        ("a: !!python/object:os.system x\n", 1, "unknown tag !!python/object:os.system"),
        ("a: !Ref x\n", 1, "unknown tag !Ref"),
        ("d:\n  <<: 3\n", 2, "a merge key (<<) takes a mapping or a list of mappings"),
        ("? [a]\n: 1\n", 1, "mapping keys must be scalars"),
        ("a: &a [1]\n*a : 2\n", 2, "mapping keys must be scalars"),
    ],
)
def test_values_that_cannot_be_built_are_errors_at_their_line(
    text: str, line: int, message: str
) -> None:
    with pytest.raises(YamlSyntaxError) as caught:
        load_documents(text, "f.yaml")
    assert (caught.value.line, str(caught.value)) == (line, message)


def test_merge_lists_take_the_first_source_and_explicit_keys_win() -> None:
    text = "b: &b {x: 1, y: 2}\nc: &c {y: 3, z: 4}\nd:\n  <<: [*b, *c]\n  z: 9\n"
    (document,) = load_documents(text, "f.yaml")
    assert document.body["d"] == {"x": 1, "y": 2, "z": 9}
    assert document.line_of(("d", "z")) == 5
