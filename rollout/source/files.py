"""Spec and policy files on disk: the shipped policies, and the paths ``rollout validate``,
``--policies`` and the examples name.

``rollout.spec`` only parses text; reading files is I/O and lives here, at the edge. In a
wheel the shipped policies live in ``rollout/builtin_policies`` (copied there from the
repository's top-level ``policies/`` at build time); in a source checkout they are read
from ``policies/`` directly, so both install modes see the same files.
"""

from __future__ import annotations

import functools
import os
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path

from rollout.errors import SpecError
from rollout.spec import catalog, yamldocs
from rollout.spec.policy import Policy
from rollout.spec.problems import Problem
from rollout.spec.yamldocs import load_documents

__all__ = [
    "collect_files",
    "load_paths",
    "policy_directory",
    "read_catalog",
    "shipped_policies",
]

YAML_SUFFIXES = (".yaml", ".yml")


def policy_directory() -> Path:
    package = Path(__file__).resolve().parent.parent
    installed = package / "builtin_policies"
    if installed.is_dir():
        return installed
    return package.parent / "policies"


@functools.cache
def shipped_policies() -> tuple[Policy, ...]:
    """Every shipped policy; a broken shipped policy is a packaging defect and raises."""
    policies: list[Policy] = []
    for path in sorted(policy_directory().glob("*.yaml")):
        for document in load_documents(path.read_text(encoding="utf-8"), str(path)):
            try:
                policies.append(Policy.model_validate(document.body))
            except ValueError as error:
                raise SpecError([f"{path}: shipped policy is invalid: {error}"]) from error
    return tuple(policies)


def read_catalog(
    files: Mapping[str, str],
    *,
    commit: str | None = None,
    unreadable: Mapping[str, str] | None = None,
    known_policies: Iterable[Policy] = (),
) -> catalog.Catalog:
    """``catalog.load_texts`` with the shipped policies, as every source reads specs."""
    return catalog.load_texts(
        files,
        commit=commit,
        shipped=shipped_policies(),
        unreadable=unreadable,
        known_policies=known_policies,
    )


def collect_files(
    paths: Iterable[str | os.PathLike[str]], *, max_bytes: int = yamldocs.MAX_FILE_BYTES
) -> tuple[dict[str, str], list[Problem]]:
    """Read every YAML file in the given files and directories, sorted, with their text.

    The limits of the Git source apply: in a directory a symbolic link is never followed,
    only regular files are opened, a file over ``max_bytes`` is refused by its size and no
    more than that is ever read, and binary content is refused; each as a problem.
    """
    files: dict[str, str] = {}
    problems: list[Problem] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            candidates = sorted(_yaml_files_in(path))
        elif path.exists():
            candidates = [path]
        else:
            problems.append(Problem(str(path), None, "", "no such file or directory"))
            continue
        for candidate in candidates:
            if any(part.startswith(".") for part in candidate.parts if part not in (".", "..")):
                continue
            text = _read_spec_file(candidate, followed=candidate == path, max_bytes=max_bytes)
            if isinstance(text, str):
                files[str(candidate)] = text
            else:
                problems.append(text)
    return files, problems


def _yaml_files_in(directory: Path) -> Iterable[Path]:
    for root, _, names in os.walk(directory, followlinks=False):
        yield from (Path(root, n) for n in names if n.lower().endswith(YAML_SUFFIXES))


def _read_spec_file(path: Path, *, followed: bool, max_bytes: int) -> str | Problem:
    """The text of one file, or why it is not read (a link found in a directory, not a
    regular file, too large, binary)."""
    flags = os.O_RDONLY | os.O_NONBLOCK  # a FIFO opens at once, then is refused below
    try:
        if not followed and path.is_symlink():
            return Problem(str(path), None, "", yamldocs.LINK_REFUSED)
        with os.fdopen(os.open(path, flags), "rb") as opened:
            status = os.fstat(opened.fileno())
            if not stat.S_ISREG(status.st_mode):
                return Problem(str(path), None, "", "not a regular file")
            too_large = yamldocs.too_large(status.st_size, max_bytes)
            data = b"" if too_large else opened.read(max_bytes + 1)
    except OSError as error:
        return Problem(str(path), None, "", f"cannot read: {error.strerror or error}")
    too_large = too_large or yamldocs.too_large(len(data), max_bytes)
    if too_large:
        return Problem(str(path), None, "", too_large)
    text = yamldocs.spec_text(data)
    return Problem(str(path), None, "", yamldocs.BINARY_REFUSED) if text is None else text


def load_paths(paths: Iterable[str | os.PathLike[str]]) -> catalog.Catalog:
    """The catalog of files and directories on disk, unreadable ones as problems."""
    files, problems = collect_files(paths)
    loaded = read_catalog(files)
    loaded.problems[:0] = problems
    loaded.problems.sort(key=lambda p: (p.path, p.line or 0))
    return loaded
