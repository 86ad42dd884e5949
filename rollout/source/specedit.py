"""Text edits a write-back commits: one YAML line, or a status file beside the spec.

A person owns the spec file: its comments, its key order, its quoting and its other
documents must survive a revert written by the controller. So the file is never dumped
from a parsed value; the ``version:`` scalar under ``spec`` of the one matching Rollout
document is located with the YAML composer's marks and only its characters are replaced.
The result is parsed again and checked: the document now asks for the new version and
every other line is byte for byte what it was.

Pure: strings in, strings out; no Git and no files.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Any

import yaml

from rollout import API_GROUP
from rollout.errors import SourceError
from rollout.spec import catalog

__all__ = [
    "STATUS_FILE_SUFFIX",
    "SpecLocation",
    "find_spec_version",
    "is_status_file",
    "set_spec_version",
    "status_file_path",
    "status_file_text",
]

STATUS_FILE_SUFFIX = catalog.STATUS_FILE_SUFFIX
_KIND = "Rollout"


@dataclasses.dataclass(frozen=True)
class SpecLocation:
    """Where a Rollout's ``spec.version`` sits: its value and the scalar's position."""

    version: str
    line: int
    """0-based line of the scalar."""
    start_column: int
    end_column: int
    style: str | None
    """The scalar's quoting: None (plain), ``'`` or ``"``."""


def _scalar(node: yaml.Node | None) -> str | None:
    if isinstance(node, yaml.ScalarNode):
        return str(node.value)
    return None


_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's composer when present: it caps nesting, where the pure-Python one recurses."""


def _child(node: yaml.Node, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for key_node, value_node in node.value:
        if _scalar(key_node) == key:
            return value_node  # type: ignore[no-any-return]
    return None


def _is_rollout(root: yaml.Node, *, name: str, namespace: str) -> bool:
    api_version = _scalar(_child(root, "apiVersion")) or ""
    metadata = _child(root, "metadata")
    if _scalar(_child(root, "kind")) != _KIND or api_version.split("/")[0] != API_GROUP:
        return False
    if metadata is None or _scalar(_child(metadata, "name")) != name:
        return False
    return (_scalar(_child(metadata, "namespace")) or "default") == namespace


def find_spec_version(text: str, *, name: str, namespace: str) -> SpecLocation | None:
    """The ``spec.version`` of Rollout ``namespace/name`` in ``text``; None when absent.

    Every document of the file is looked at; ``SourceError`` when the YAML does not parse
    or the version is not a one-line scalar (a block scalar or an alias is not edited).
    """
    try:
        roots = list(yaml.compose_all(text, Loader=_LOADER))
    except (yaml.YAMLError, RecursionError) as error:
        raise SourceError(
            f"the spec file is not valid YAML: {' '.join(str(error).split())}"
        ) from None
    for root in roots:
        if root is None or not _is_rollout(root, name=name, namespace=namespace):
            continue
        spec = _child(root, "spec")
        node = _child(spec, "version") if spec is not None else None
        if node is None:
            return None
        start, end = node.start_mark, node.end_mark
        if not isinstance(node, yaml.ScalarNode) or node.style in ("|", ">"):
            raise SourceError(f"spec.version of {namespace}/{name} is not a one-line scalar")
        if start.line != end.line:
            raise SourceError(f"spec.version of {namespace}/{name} is not a one-line scalar")
        style = node.style if node.style in ("'", '"') else None
        return SpecLocation(str(node.value), start.line, start.column, end.column, style)
    return None


def _render_scalar(version: str, style: str | None) -> str:
    if style == '"':
        return '"' + version.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if style == "'":
        return "'" + version.replace("'", "''") + "'"
    loaded = yaml.safe_load(version) if version else None
    if isinstance(loaded, str) and loaded == version:
        return version
    return "'" + version.replace("'", "''") + "'"  # 1.10 or true would not read back as text


def set_spec_version(text: str, *, name: str, namespace: str, version: str) -> str:
    """``text`` with Rollout ``namespace/name``'s ``spec.version`` set to ``version``.

    Only the characters of that scalar change (its quoting is kept unless a plain scalar
    would no longer read back as the same string). ``SourceError`` when the document is
    missing or the edit could not be verified.
    """
    location = find_spec_version(text, name=name, namespace=namespace)
    if location is None:
        raise SourceError(f"no Rollout {namespace}/{name} with a spec.version in the file")
    lines = text.splitlines(keepends=True)
    line = lines[location.line]
    edited = (
        line[: location.start_column]
        + _render_scalar(version, location.style)
        + line[location.end_column :]
    )
    result = "".join([*lines[: location.line], edited, *lines[location.line + 1 :]])
    check = find_spec_version(result, name=name, namespace=namespace)
    if check is None or check.version != version or check.line != location.line:
        raise SourceError(f"editing spec.version of {namespace}/{name} did not verify")
    return result


is_status_file = catalog.is_status_file


def status_file_path(spec_path: str) -> str:
    """``rollouts/checkout.yaml`` -> ``rollouts/checkout.status.yaml``."""
    pure = PurePosixPath(spec_path)
    return str(pure.with_name(pure.stem + STATUS_FILE_SUFFIX))


def status_file_text(
    *,
    rollout: str,
    version: str,
    stable_version: str,
    outcome: str,
    reason: str,
    revision: str,
    failed_checks: Sequence[str],
    evidence: Sequence[dict[str, Any]],
    at: float,
    spec_commit: str | None,
) -> str:
    """The status file: what was rolled back, why, and the evidence, as YAML for people.

    It has no ``apiVersion``/``kind`` on purpose (it is not a resource): the controller
    skips ``*.status.yaml`` when reading specs, and so does ``rollout validate``.
    """
    stamp = datetime.datetime.fromtimestamp(at, datetime.UTC).isoformat(timespec="seconds")
    body: dict[str, Any] = {
        "rollout": rollout,
        "version": version,
        "outcome": outcome,
        "stableVersion": stable_version,
        "revision": revision,
        "reason": reason,
        "failedChecks": list(failed_checks),
        "evidence": [dict(item) for item in evidence],
        "at": stamp,
    }
    if spec_commit:
        body["specCommit"] = spec_commit
    header = (
        f"# Written by the rollout controller after {version} was rolled back.\n"
        f"# The spec still asks for {version}: it will not be retried until the spec changes.\n"
    )
    return header + yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=100)
