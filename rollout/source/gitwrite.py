"""Git write-back: after a rollback, commit the outcome to the spec repository.

Opt-in per spec (``spec.writeBack``). Mode ``revert`` sets ``spec.version`` back to the
stable version, editing only that line of the spec file; mode ``statusFile`` writes
``<spec-file-stem>.status.yaml`` beside the spec. Either way Git and the cluster then agree,
and the next person to open the file sees why the version went back.

How a write stays safe when other people push to the same branch:

- The writer keeps its own bare repository in the cache directory (no work tree) and
  builds the commit with plumbing on top of the branch's tip as just fetched: the new
  commit's parent is always their latest commit, so nothing of theirs can be lost.
- It pushes without force. If the branch moved meanwhile (the remote refuses the update),
  it fetches again and re-applies the edit on the new tip, up to ``max_attempts`` times.
- Before every attempt it reads the spec at the tip: when it no longer asks for the failed
  version (someone reverted or moved on), nothing is written.
- Every commit carries ``Rollout:`` and ``Rollout-Revision:`` trailers; when the branch's
  history already holds a commit with both, the rollback was written before and nothing
  is written again.

The commit's content and message are :mod:`rollout.source.rollback_commit`. Credentials
travel as in :mod:`rollout.source.git` (the askpass helper and the git
process's environment), never in the stored URL, a log line or an error message.
"""

from __future__ import annotations

import logging
import os
import random
import re
import shutil
import tempfile
import threading
import time
from pathlib import Path

import git

from rollout.errors import SourceError
from rollout.source import gitauth, specedit
from rollout.source.git import git_error_text
from rollout.source.gitauth import BRANCH_NAME, GitCredentials, remote_access
from rollout.source.rollback_commit import (
    REVISION_TRAILER,
    ROLLOUT_TRAILER,
    Identity,
    Rollback,
    WriteMode,
    WriteOutcome,
    WriteResult,
    commit_message,
)

__all__ = ["GitWriter"]

log = logging.getLogger(__name__)

# what a push says when the branch moved under it: retry on the new tip
_MOVED = re.compile(
    r"non-fast-forward|fetch first|stale info|failed to update ref|cannot lock ref"
    r"|incorrect old value|failed to lock"
)


class _BranchMoved(Exception):
    """The remote refused a fast-forward: someone pushed first."""


class GitWriter:
    """Commits write-backs to ``branch`` of the repository at ``url``.

    ``branch`` is the source's branch; a spec's ``writeBack.branch`` overrides it per write
    (a branch missing on the remote is created from the source branch's tip).
    """

    def __init__(
        self,
        url: str,
        *,
        branch: str = "main",
        cache_dir: str | os.PathLike[str],
        credentials: GitCredentials | None = None,
        identity: Identity | None = None,
        network_timeout: float = 60.0,
        max_attempts: int = 8,
    ) -> None:
        self._access = remote_access(url, credentials, branch)
        self.url = self._access.display_url
        self.branch = branch
        self.identity = identity or Identity()
        self.cache_dir = Path(cache_dir).absolute()
        self.network_timeout = network_timeout
        self.max_attempts = max_attempts
        self._repo_dir = self.cache_dir / "writeback.git"
        self._askpass = self.cache_dir / "askpass.sh"
        self._git = git.Git(str(self.cache_dir))
        self._git.update_environment(GIT_DIR=str(self._repo_dir))
        self._lock = threading.Lock()
        self._random = random.Random()

    def __repr__(self) -> str:
        return f"GitWriter({self.url!r}, branch={self.branch!r})"

    def close(self) -> None:
        self._git.clear_cache()

    # -- the one public operation -----------------------------------------------------------

    def write_back(
        self, rollback: Rollback, *, mode: WriteMode = "revert", branch: str | None = None
    ) -> WriteResult:
        """Commit ``rollback`` and push it; ``SourceError`` (scrubbed) when it cannot."""
        target = branch or self.branch
        if not BRANCH_NAME.match(target):
            raise SourceError(f"invalid write-back branch name {target!r}")
        started = time.monotonic()
        with self._lock:
            try:
                outcome, commit, attempts, message = self._write(rollback, mode, target)
            except SourceError as error:
                raise SourceError(self._access.scrub(str(error))) from None
        seconds = time.monotonic() - started
        log.info(
            "write-back of %s %s to %s: %s after %d attempt(s) in %.3fs: %s",
            rollback.key,
            rollback.revision,
            target,
            outcome.value,
            attempts,
            seconds,
            message,
        )
        return WriteResult(outcome, mode, commit, target, attempts, seconds, message)

    def _write(
        self, rollback: Rollback, mode: WriteMode, target: str
    ) -> tuple[WriteOutcome, str | None, int, str]:
        self._initialise()
        for attempt in range(1, self.max_attempts + 1):
            tip, exists = self._fetch(target)
            found = self._written_before(rollback, tip)
            if found is not None:
                return WriteOutcome.ALREADY_WRITTEN, found, attempt, f"already in {found[:12]}"
            text, mode_bits = self._read(tip, rollback.path)
            location = (
                specedit.find_spec_version(text, name=rollback.name, namespace=rollback.namespace)
                if text is not None
                else None
            )
            if location is None or location.version != rollback.failed_version:
                asks = "no such spec" if location is None else f"spec asks for {location.version}"
                return WriteOutcome.SUPERSEDED, None, attempt, f"{asks} at {tip[:12]}"
            assert text is not None
            files = self._edits(rollback, mode, text)
            commit = self._commit(tip, files, mode_bits, commit_message(rollback, mode=mode))
            try:
                self._push(commit, target, expected=tip if exists else None)
            except _BranchMoved as moved:
                log.info("write-back of %s: %s; re-applying on the new tip", rollback.key, moved)
                time.sleep(self._random.uniform(0.0, 0.05 * attempt))
                continue
            return WriteOutcome.WRITTEN, commit, attempt, f"pushed {commit[:12]} onto {tip[:12]}"
        raise SourceError(
            f"write-back of {rollback.key} to {target}: the branch kept moving "
            f"({self.max_attempts} attempts)"
        )

    def _edits(self, rollback: Rollback, mode: WriteMode, text: str) -> dict[str, str]:
        if mode == "revert":
            edited = specedit.set_spec_version(
                text,
                name=rollback.name,
                namespace=rollback.namespace,
                version=rollback.stable_version,
            )
            return {rollback.path: edited}
        status = specedit.status_file_text(
            rollout=rollback.key,
            version=rollback.failed_version,
            stable_version=rollback.stable_version,
            outcome=rollback.outcome,
            reason=rollback.reason,
            revision=rollback.revision,
            failed_checks=rollback.failed_checks,
            evidence=rollback.evidence,
            at=rollback.at,
            spec_commit=rollback.spec_commit,
        )
        return {specedit.status_file_path(rollback.path): status}

    # -- the repository ---------------------------------------------------------------------

    def _initialise(self) -> None:
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        gitauth.write_askpass(self._askpass)
        if (self._repo_dir / "HEAD").is_file() and self._configured_url() == self._access.fetch_url:
            return
        shutil.rmtree(self._repo_dir, ignore_errors=True)
        self._run("init", "--bare", "--quiet")
        self._run("config", "remote.origin.url", self._access.fetch_url)
        self._run("config", "core.logAllRefUpdates", "false")
        self._run("config", "gc.autoDetach", "false")

    def _configured_url(self) -> str:
        status, stdout, _ = self._git.execute(
            ["git", "config", "--get", "remote.origin.url"],
            with_extended_output=True,
            with_exceptions=False,
        )
        return str(stdout).strip() if status == 0 else ""

    def _remote_env(self) -> dict[str, str]:
        return self._access.environment(askpass=self._askpass, timeout=self.network_timeout)

    def _fetch(self, target: str) -> tuple[str, bool]:
        """The target branch's tip (or the source branch's, when the target is new)."""
        refspecs = [f"+refs/heads/{target}:refs/remotes/origin/{target}"]
        if target != self.branch:
            refspecs.append(f"+refs/heads/{self.branch}:refs/remotes/origin/{self.branch}")
        status, _, stderr = self._git.execute(
            ["git", "fetch", "--quiet", "--no-tags", "--no-auto-gc", "origin",
             *refspecs],
            env=self._remote_env(),
            kill_after_timeout=self.network_timeout,
            with_extended_output=True,
            with_exceptions=False,
        )  # fmt: skip
        missing_target = "couldn't find remote ref" in str(stderr) and target in str(stderr)
        if status != 0 and not missing_target:
            raise SourceError(f"cannot fetch {target!r} of {self.url}: {self._one_line(stderr)}")
        if missing_target and target != self.branch:
            self._fetch_base()
            return self._rev(f"refs/remotes/origin/{self.branch}"), False
        if missing_target:
            raise SourceError(f"branch {target!r} of {self.url} does not exist on the remote")
        return self._rev(f"refs/remotes/origin/{target}"), True

    def _fetch_base(self) -> None:
        refspec = f"+refs/heads/{self.branch}:refs/remotes/origin/{self.branch}"
        try:
            self._git.execute(
                ["git", "fetch", "--quiet", "--no-tags", "--no-auto-gc", "origin", refspec],
                env=self._remote_env(),
                kill_after_timeout=self.network_timeout,
            )
        except git.GitCommandError as error:
            raise SourceError(
                f"cannot fetch {self.branch!r} of {self.url}: {git_error_text(error)}"
            ) from None

    def _written_before(self, rollback: Rollback, tip: str) -> str | None:
        """A commit on the branch with this rollback's trailers, newest first."""
        revision = tip
        if rollback.spec_commit and self._is_ancestor(rollback.spec_commit, tip):
            revision = f"{rollback.spec_commit}..{tip}"
        found = self._run(
            "log",
            "--format=%H",
            "--fixed-strings",
            "--all-match",
            f"--grep={ROLLOUT_TRAILER}: {rollback.key}",
            f"--grep={REVISION_TRAILER}: {rollback.revision}",
            revision,
        ).split()
        for sha in found:
            message = self._run("log", "-1", "--format=%B", sha)
            lines = {line.strip() for line in message.splitlines()}
            wanted = {
                f"{ROLLOUT_TRAILER}: {rollback.key}",
                f"{REVISION_TRAILER}: {rollback.revision}",
            }
            if wanted <= lines:
                return sha
        return None

    def _is_ancestor(self, ancestor: str, descendant: str) -> bool:
        status, _, _ = self._git.execute(
            ["git", "merge-base", "--is-ancestor", ancestor, descendant],
            with_extended_output=True,
            with_exceptions=False,
        )
        return status == 0

    def _read(self, tip: str, path: str) -> tuple[str | None, str]:
        """The file's text at ``tip`` and its mode; ``(None, "100644")`` when absent."""
        listing = self._run("ls-tree", "-z", "--full-tree", tip, "--", path)
        entry = listing.split("\0")[0]
        if not entry:
            return None, "100644"
        meta, _, _ = entry.partition("\t")
        mode, kind, blob = meta.split()
        if kind != "blob" or mode not in ("100644", "100755"):
            return None, "100644"
        data = self._git.get_object_data(blob)[3]
        try:
            return data.decode("utf-8"), mode
        except UnicodeDecodeError:
            return None, mode

    def _commit(self, parent: str, files: dict[str, str], mode_bits: str, message: str) -> str:
        """A commit on ``parent`` with ``files`` replaced; built in a private index."""
        with tempfile.TemporaryDirectory(prefix="rollout-writeback-") as scratch:
            index = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
            self._run("read-tree", parent, env=index)
            for path, text in files.items():
                blob_file = Path(scratch) / "blob"
                blob_file.write_bytes(text.encode("utf-8"))
                blob = self._run("hash-object", "-w", "--", str(blob_file)).strip()
                self._run("update-index", "--add", "--cacheinfo", f"{mode_bits},{blob},{path}",
                          env=index)  # fmt: skip
            tree = self._run("write-tree", env=index).strip()
            message_file = Path(scratch) / "message"
            message_file.write_text(message)
            return self._run(
                "commit-tree", tree, "-p", parent, "-F", str(message_file),
                env=self.identity.environment(),
            ).strip()  # fmt: skip

    def _push(self, commit: str, target: str, *, expected: str | None) -> None:
        """Push ``commit`` to ``target`` as a fast-forward only; ``_BranchMoved`` if refused."""
        status, stdout, stderr = self._git.execute(
            ["git", "push", "--porcelain", "--quiet", "origin",
             f"{commit}:refs/heads/{target}"],
            env=self._remote_env(),
            kill_after_timeout=self.network_timeout,
            with_extended_output=True,
            with_exceptions=False,
        )  # fmt: skip
        if status == 0:
            return
        said = f"{stdout}\n{stderr}"
        if _MOVED.search(said):
            where = f"at {expected[:12]}" if expected else "missing"
            raise _BranchMoved(f"{target} moved since it was fetched ({where})")
        raise SourceError(f"cannot push to {target!r} of {self.url}: {self._one_line(said)}")

    # -- small helpers ----------------------------------------------------------------------

    def _rev(self, ref: str) -> str:
        return self._run("rev-parse", "--verify", f"{ref}^{{commit}}").strip()

    def _run(self, *args: str, env: dict[str, str] | None = None) -> str:
        try:
            return str(
                self._git.execute(["git", *args], env=env, kill_after_timeout=self.network_timeout)
            )
        except git.GitCommandError as error:
            text = self._access.scrub(git_error_text(error))
            raise SourceError(f"git {args[0]} failed in the write-back cache: {text}") from None

    def _one_line(self, text: object) -> str:
        lines = [line.strip() for line in str(text).splitlines() if line.strip()]
        kept = [line for line in lines if not line.startswith(("To ", "Done"))]
        return self._access.scrub("; ".join(kept) or "git exited with an error")
