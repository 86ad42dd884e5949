"""What the Git source yields, and the health it reports, as plain data.

The Git source fetches the desired state and hands back one consistent ``Snapshot``: every
spec file's text at a single revision, so the parser (``rollout.spec.catalog.load_texts``)
never sees half of one commit and half of another. A failed sync never destroys the last
good snapshot; the failure is recorded in ``SyncStatus`` (credentials already scrubbed) for
``/readyz`` and ``/metrics``.

This module does no I/O; ``rollout.source.git`` is the Git implementation.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["CommitInfo", "Snapshot", "SyncStatus", "is_spec_file"]

SPEC_FILE_SUFFIXES = (".yaml", ".yml")


def is_spec_file(path: str) -> bool:
    """Whether ``path`` names a file the source reads as specs (YAML)."""
    return path.lower().endswith(SPEC_FILE_SUFFIXES)


@dataclasses.dataclass(frozen=True)
class CommitInfo:
    """One commit as a person would quote it: who, when, and the first line of the message."""

    sha: str
    author: str
    summary: str
    committed_at: datetime.datetime

    def __str__(self) -> str:
        return f"{self.sha[:12]} {self.summary!r} by {self.author}"


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """Every spec file of the source at one revision.

    ``files`` maps a path relative to the repository root (POSIX separators, sorted) to the
    file's text. ``file_commits`` maps the same paths to the last commit that changed each
    file, when the source can tell cheaply; it may be empty. ``unreadable`` maps the spec
    files left out to why (a link, too large, not text, a submodule): never their content.
    """

    source: str
    branch: str
    path: str
    commit: CommitInfo
    files: Mapping[str, str]
    file_commits: Mapping[str, CommitInfo] = dataclasses.field(default_factory=dict)
    unreadable: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "files", MappingProxyType(dict(sorted(self.files.items()))))
        object.__setattr__(self, "file_commits", MappingProxyType(dict(self.file_commits)))
        object.__setattr__(self, "unreadable", MappingProxyType(dict(self.unreadable)))

    @property
    def sha(self) -> str:
        """The full commit sha the files were read at."""
        return self.commit.sha


@dataclasses.dataclass(frozen=True)
class SyncStatus:
    """How the source's syncing is going, for ``/readyz`` and ``/metrics``.

    ``last_error`` is a single line with every credential removed; it is cleared by the
    next successful sync. ``commit`` is the sha of the last good snapshot, kept across
    failures.
    """

    last_attempt_at: datetime.datetime | None = None
    last_success_at: datetime.datetime | None = None
    last_error: str | None = None
    commit: str | None = None
    consecutive_failures: int = 0
    last_duration_seconds: float | None = None

    @property
    def ready(self) -> bool:
        """True once a good snapshot exists (a later failure only makes it stale)."""
        return self.commit is not None

    @property
    def healthy(self) -> bool:
        """True when the most recent attempt succeeded."""
        return self.ready and self.last_error is None
