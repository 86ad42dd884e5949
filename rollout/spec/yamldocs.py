"""YAML documents with the line of every field, so errors can point at the line, read within
limits so that no file can stop the reader.

Values are built straight from the parser's events (libyaml's when present) with an
explicit stack, never from PyYAML's node graph: a recursive alias (``&a [*a]``) is refused
when it is met, aliases and merge keys count every value they stand for against a budget
(so a "billion laughs" file is refused after a few thousand values, not after gigabytes),
nesting has a depth limit, and a scalar that cannot be built (a 5,000-digit integer, an
impossible date, bad base64) is a line-numbered error, never a traceback. Every refusal is
a ``YamlSyntaxError`` naming the line; no message quotes the file beyond that line.

A map from each field path (``("spec", "steps", 2, "setWeight")``) to its line is kept;
values an alias stands for share the alias's line.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import yaml

__all__ = [
    "BINARY_REFUSED",
    "LINK_REFUSED",
    "MAX_FILE_BYTES",
    "Document",
    "FieldPath",
    "YamlSyntaxError",
    "load_documents",
    "spec_text",
    "too_large",
]

FieldPath = tuple[str | int, ...]

MAX_DEPTH = 64
"""Deepest nesting of mappings and sequences; a spec is about eight levels deep."""
MAX_VALUES = 100_000
"""Values one document may hold, counting each value an alias or a merge key stands for."""
MAX_FILE_BYTES = 1 << 20
"""The largest spec file read at all (1 MiB); sources check the size before reading."""

LINK_REFUSED = "a symbolic link: links are never followed"
BINARY_REFUSED = "binary, not UTF-8 text"


def too_large(size: int, limit: int = MAX_FILE_BYTES) -> str | None:
    """Why a file of ``size`` bytes is not read, or None when it may be."""
    return f"{size} bytes, over the limit of {limit}" if size > limit else None


def spec_text(data: bytes) -> str | None:
    """A spec file's bytes as text; None for anything binary (not UTF-8, or with NULs)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    return None if "\0" in text else text


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
    """A file is not valid YAML, or is over a limit; carries the line of the first error."""

    def __init__(self, path: str, line: int | None, message: str) -> None:
        self.path = path
        self.line = line
        super().__init__(message)


_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE_TAG = "tag:yaml.org,2002:merge"
_VERBATIM_TAGS = (_MERGE_TAG, "tag:yaml.org,2002:value")
"""Plain ``<<`` and ``=``: a merge key where a key is due, else the text itself."""
_OPEN = object()
"""The value of an anchor whose collection is still being read: an alias to it is recursive."""


class _Refused(Exception):
    def __init__(self, line: int, message: str) -> None:
        self.line = line
        super().__init__(message)


@dataclasses.dataclass
class _Collection:
    """A mapping or sequence being read: its value so far and what it will weigh."""

    value: dict[Any, Any] | list[Any]
    path: FieldPath
    line: int
    anchor: str | None
    size: int = 1
    key: Any = None
    awaiting_value: bool = False
    merging: bool = False
    merges: list[dict[Any, Any]] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class _DocumentReader:
    """Builds one document's value from parser events, within the limits."""

    loader: yaml.SafeLoader
    max_depth: int
    max_values: int
    lines: dict[FieldPath, int] = dataclasses.field(default_factory=dict)
    anchors: dict[str, tuple[Any, int]] = dataclasses.field(default_factory=dict)
    stack: list[_Collection] = dataclasses.field(default_factory=list)
    values: int = 0
    body: Any = None
    start_line: int = 0

    def read(self, event: yaml.Event) -> None:
        line = event.start_mark.line + 1 if event.start_mark is not None else 0
        if isinstance(event, yaml.ScalarEvent):
            value = self._scalar(event, line)
            self._anchor(event.anchor, line, "<<" if value is _MergeKey else value, 1)
            self._add(value, 1, line)
        elif isinstance(event, yaml.AliasEvent):
            if event.anchor not in self.anchors:
                raise _Refused(line, f"alias *{event.anchor} names no anchor before it")
            value, size = self.anchors[event.anchor]
            if value is _OPEN:
                raise _Refused(line, f"recursive alias *{event.anchor}: it refers to itself")
            self._add(value, size, line)
        elif isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            self._open(event, line)
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            self._close()

    def _count(self, size: int, line: int) -> None:
        self.values += size
        if self.values > self.max_values:
            raise _Refused(
                line,
                f"more than {self.max_values} values in one document "
                "(counting what aliases and merge keys stand for)",
            )

    def _anchor(self, anchor: str | None, line: int, value: Any, size: int) -> None:
        if anchor is None:
            return
        if anchor in self.anchors and self.anchors[anchor][0] is _OPEN:
            raise _Refused(line, f"anchor &{anchor} is defined inside itself")
        self.anchors[anchor] = (value, size)

    def _path_of_next(self) -> FieldPath:
        if not self.stack:
            return ()
        parent = self.stack[-1]
        if isinstance(parent.value, list):
            return (*parent.path, len(parent.value))
        return (*parent.path, parent.key)

    def _open(self, event: yaml.CollectionStartEvent, line: int) -> None:
        if self._at_key():
            raise _Refused(line, "mapping keys must be scalars")
        if len(self.stack) >= self.max_depth:
            raise _Refused(line, f"nested deeper than {self.max_depth} levels")
        self._count(1, line)
        path = self._path_of_next()
        self.lines.setdefault(path, line)
        value: dict[Any, Any] | list[Any] = {} if isinstance(event, yaml.MappingStartEvent) else []
        self._anchor(event.anchor, line, _OPEN, 0)
        self.stack.append(_Collection(value, path, line, event.anchor))

    def _close(self) -> None:
        done = self.stack.pop()
        if isinstance(done.value, dict):
            for source in done.merges:
                for key, value in source.items():
                    done.value.setdefault(key, value)
        if done.anchor is not None:
            self.anchors[done.anchor] = (done.value, done.size)
        self._add(done.value, done.size, done.line, counted=True)

    def _add(self, value: Any, size: int, line: int, *, counted: bool = False) -> None:
        if not counted:
            self._count(size, line)
        if not self.stack:
            self.body = value
            self.start_line = line
            self.lines.setdefault((), line)
            return
        parent = self.stack[-1]
        parent.size += size
        if isinstance(parent.value, list):
            self.lines.setdefault((*parent.path, len(parent.value)), line)
            parent.value.append(value)
            return
        if not parent.awaiting_value:
            self._key(parent, value, line)
            return
        parent.awaiting_value = False
        if parent.merging:
            parent.merging = False
            sources = value if isinstance(value, list) else [value]
            if not all(isinstance(source, dict) for source in sources):
                raise _Refused(line, "a merge key (<<) takes a mapping or a list of mappings")
            parent.merges.extend(sources)
            return
        parent.value[parent.key] = value

    def _key(self, mapping: _Collection, key: Any, line: int) -> None:
        if isinstance(key, list | dict):
            raise _Refused(line, "mapping keys must be scalars")
        mapping.awaiting_value = True
        if key is _MergeKey:
            mapping.merging = True
            mapping.key = "<<"
            return
        if key in mapping.value:
            raise _Refused(line, f"duplicate key {key!r}")
        mapping.key = key
        self.lines[(*mapping.path, key)] = line

    def _scalar(self, event: yaml.ScalarEvent, line: int) -> Any:
        tag = event.tag
        if tag is None or tag == "!":
            tag = self.loader.resolve(  # type: ignore[no-untyped-call]
                yaml.ScalarNode, event.value, event.implicit
            )
        if tag in _VERBATIM_TAGS:
            return _MergeKey if tag == _MERGE_TAG and self._at_key() else event.value
        constructor = self.loader.yaml_constructors.get(tag)
        if constructor is None:
            raise _Refused(line, f"unknown tag {_short(tag)}")
        node = yaml.ScalarNode(tag, event.value, style=event.style)
        try:
            return constructor(self.loader, node)
        except yaml.YAMLError as error:
            problem = getattr(error, "problem", None) or "cannot be read"
            raise _Refused(line, f"{_short(tag)} value: {problem}") from None
        except Exception:  # PyYAML's constructors fail in many ways on text they did not expect
            raise _Refused(line, f"not a valid {_short(tag)} value") from None

    def _at_key(self) -> bool:
        return bool(
            self.stack
            and isinstance(self.stack[-1].value, dict)
            and not self.stack[-1].awaiting_value
        )


class _MergeKey:
    """The ``<<`` key of a mapping, never a value of the result."""


def _short(tag: str) -> str:
    return tag.replace("tag:yaml.org,2002:", "!!")


class _Loader(_BaseLoader):  # type: ignore[valid-type,misc]
    """The safe loader (libyaml's when present), used only for its events and scalars."""


def load_documents(
    text: str, path: str, *, max_depth: int = MAX_DEPTH, max_values: int = MAX_VALUES
) -> list[Document]:
    """Parse every document in ``text``; raise ``YamlSyntaxError`` naming the line."""
    loader = _Loader(text)
    documents: list[Document] = []
    reader: _DocumentReader | None = None
    index = 0
    try:
        while True:
            event = loader.get_event()
            if isinstance(event, yaml.StreamEndEvent):
                break
            if isinstance(event, yaml.DocumentStartEvent):
                reader = _DocumentReader(loader, max_depth, max_values)
            elif isinstance(event, yaml.DocumentEndEvent) and reader is not None:
                if reader.body is not None:
                    documents.append(
                        Document(path, index, reader.body, reader.lines, reader.start_line)
                    )
                index += 1
                reader = None
            elif reader is not None:
                reader.read(event)
    except _Refused as error:
        raise YamlSyntaxError(path, error.line, str(error)) from None
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
