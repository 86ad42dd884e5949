"""YAML documents with the line of every field, so errors can point at the line.

PyYAML's composer gives node positions; we build plain Python values from the node tree
and keep a map from each field path (``("spec", "steps", 2, "setWeight")``) to its line.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import yaml

FieldPath = tuple[str | int, ...]


@dataclasses.dataclass(frozen=True)
class Document:
    """One YAML document of a file: its value and where each field sits."""

    path: str
    index: int
    body: Any
    lines: dict[FieldPath, int]
    start_line: int

    def line_of(self, field_path: FieldPath) -> int:
        """The line of the deepest known prefix of ``field_path``."""
        probe = tuple(field_path)
        while probe:
            if probe in self.lines:
                return self.lines[probe]
            probe = probe[:-1]
        return self.start_line


class YamlSyntaxError(ValueError):
    """A file is not valid YAML; carries the line of the first error."""

    def __init__(self, path: str, line: int | None, message: str) -> None:
        self.path = path
        self.line = line
        super().__init__(message)


_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _UniqueKeyLoader(_BaseLoader):  # type: ignore[valid-type,misc]
    """The safe loader (libyaml's when present); duplicate keys are reported by ``_to_python``."""


def _to_python(
    node: yaml.Node, path: FieldPath, lines: dict[FieldPath, int], loader: yaml.SafeLoader
) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        if any(key_node.tag == _MERGE_TAG for key_node, _ in node.value):
            loader.flatten_mapping(node)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node, loader)
            if isinstance(key, list | dict):
                raise YamlSyntaxError(
                    "", key_node.start_mark.line + 1, "mapping keys must be scalars"
                )
            if key in result:
                raise YamlSyntaxError("", key_node.start_mark.line + 1, f"duplicate key {key!r}")
            child = (*path, key)
            lines[child] = key_node.start_mark.line + 1
            result[key] = _to_python(value_node, child, lines, loader)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _to_python(item, (*path, index), lines, loader) for index, item in enumerate(node.value)
        ]
    return _scalar(node, loader)


_MERGE_TAG = "tag:yaml.org,2002:merge"


def _scalar(node: yaml.Node, loader: yaml.SafeLoader) -> Any:
    """Construct a scalar by its resolved tag, skipping the loader's per-object bookkeeping
    (anchors and recursion tracking) that plain scalars never need."""
    if isinstance(node, yaml.ScalarNode):
        constructor = loader.yaml_constructors.get(node.tag)
        if constructor is not None:
            return constructor(loader, node)
    return loader.construct_object(node, deep=True)


def load_documents(text: str, path: str) -> list[Document]:
    """Parse every document in ``text``; raise ``YamlSyntaxError`` naming the line."""
    loader = _UniqueKeyLoader(text)
    documents: list[Document] = []
    try:
        index = 0
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            lines: dict[FieldPath, int] = {}
            try:
                body = _to_python(node, (), lines, loader)
            except YamlSyntaxError as error:
                raise YamlSyntaxError(path, error.line, str(error)) from None
            if body is not None:
                documents.append(Document(path, index, body, lines, node.start_mark.line + 1))
            index += 1
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        last_line = max(1, text.count("\n") + (0 if text.endswith("\n") else 1))
        line = min(mark.line + 1, last_line) if mark is not None else None
        message = error.problem or str(error)
        raise YamlSyntaxError(path, line, f"invalid YAML: {message}") from None
    except yaml.YAMLError as error:
        raise YamlSyntaxError(path, None, f"invalid YAML: {error}") from None
    finally:
        loader.dispose()
    return documents
