"""What a write-back commits: the rollback owed, who commits it, its message and trailers,
and what came of it.

Pure data and text (no I/O): :mod:`rollout.writeback` decides which ``Rollback`` is owed,
:class:`rollout.source.gitwrite.GitWriter` commits it and answers with a ``WriteResult``.
The ``Rollout:`` and ``Rollout-Revision:`` trailers make the write idempotent: a branch
whose history holds both has the rollback already.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any, Literal

__all__ = [
    "DEFAULT_EMAIL",
    "DEFAULT_NAME",
    "REVISION_TRAILER",
    "ROLLOUT_TRAILER",
    "Identity",
    "Rollback",
    "WriteMode",
    "WriteOutcome",
    "WriteResult",
    "commit_message",
]

DEFAULT_NAME = "rollout-controller"
DEFAULT_EMAIL = "rollout-controller@users.noreply.local"
ROLLOUT_TRAILER = "Rollout"
REVISION_TRAILER = "Rollout-Revision"
WriteMode = Literal["revert", "statusFile"]


@dataclasses.dataclass(frozen=True)
class Identity:
    """Who a write-back commit is by (author and committer)."""

    name: str = DEFAULT_NAME
    email: str = DEFAULT_EMAIL

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"

    def environment(self) -> dict[str, str]:
        return {
            "GIT_AUTHOR_NAME": self.name,
            "GIT_AUTHOR_EMAIL": self.email,
            "GIT_COMMITTER_NAME": self.name,
            "GIT_COMMITTER_EMAIL": self.email,
        }


@dataclasses.dataclass(frozen=True)
class Rollback:
    """One rollback to write: which spec, which versions, and the evidence for people."""

    namespace: str
    name: str
    path: str
    """The spec file, relative to the repository root."""
    failed_version: str
    stable_version: str
    revision: str
    """``v3@4f1c2a9e0b7d``: the failed version and its spec hash; the idempotence key."""
    outcome: str
    """The phase it ended in: ``RolledBack`` or ``Failed``."""
    reason: str
    failed_checks: tuple[str, ...] = ()
    """``istio-error-ratio/error-ratio: value 0.05 against threshold 0.01 (n=412, p=0.0003)``."""
    evidence: tuple[dict[str, Any], ...] = ()
    spec_commit: str | None = None
    """The commit the failed spec came from (bounds the history search)."""
    at: float = 0.0

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


class WriteOutcome(enum.StrEnum):
    WRITTEN = "written"
    ALREADY_WRITTEN = "alreadyWritten"
    SUPERSEDED = "superseded"
    """The spec at the branch's tip no longer asks for the failed version."""


@dataclasses.dataclass(frozen=True)
class WriteResult:
    outcome: WriteOutcome
    mode: WriteMode
    commit: str | None
    """The write-back commit (new, or found in the history); None when superseded."""
    branch: str
    attempts: int
    seconds: float
    message: str


def commit_message(rollback: Rollback, *, mode: WriteMode) -> str:
    """Subject, the evidence in the body, and the trailers that make the write idempotent."""
    r = rollback
    if mode == "revert":
        subject = f"Revert {r.key} to {r.stable_version}: {r.failed_version} was rolled back"
    else:
        subject = f"Record rollback of {r.key} {r.failed_version} (stable {r.stable_version})"
    body = [
        f"The rollout controller put all traffic of {r.key} back on {r.stable_version}",
        f"after {r.failed_version} ended {r.outcome}: {r.reason.removeprefix('rolled back: ')}",
    ]
    if r.failed_checks:
        body.append("")
        body.extend(f"- {check}" for check in r.failed_checks)
    if mode == "revert":
        body += ["", f"spec.version in {r.path} goes back to {r.stable_version}."]
    trailers = [f"{ROLLOUT_TRAILER}: {r.key}", f"{REVISION_TRAILER}: {r.revision}"]
    if r.spec_commit:
        trailers.append(f"Rollout-Failed-Commit: {r.spec_commit}")
    return "\n".join([subject, "", *body, "", *trailers]) + "\n"
