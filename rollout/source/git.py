"""The Git spec source: a cached bare mirror of one branch, read at one commit at a time.

Git is the default home of rollout specs. The controller keeps a bare repository in its cache
directory, fetches the configured branch into a private ref (forced, so a force-push is simply
taken), and reads every YAML file under the configured path straight from the commit's tree:
no work tree, so a snapshot can never mix two revisions.

Each file is taken on its own, and what a repository holds cannot stop the source: a
symbolic link is never followed (its target, in the repository or out of it, is never read),
a file over ``max_file_bytes`` is refused by the size git records before its content is
read, binary content and submodules are left out, and a name with control characters is
shown escaped. Each of these is listed in the snapshot's ``unreadable`` with its reason,
never with its content; the YAML reader (``rollout.spec.yamldocs``) sets the limits within
a file.

Failures are kept apart: an unreachable remote or a missing branch leaves the last good
snapshot in place and is reported; a damaged cache (``git fsck`` fails, HEAD garbled, objects
missing) is deleted and cloned again. Credentials reach git only through the environment of
the git process (an askpass helper that reads them from there, or ``GIT_SSH_COMMAND``): never
the remote URL on disk, the cache's config, a log line or an error message.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath

import git

from rollout.errors import SourceError
from rollout.source import gitauth
from rollout.source.base import CommitInfo, Snapshot, SyncStatus, is_spec_file
from rollout.source.gitauth import (
    BRANCH_NAME,
    GitCredentials,
    remote_access,
    scrub,
    ssh_command,
    strip_credentials,
)
from rollout.spec import yamldocs

__all__ = [
    "BRANCH_NAME",
    "GitCredentials",
    "GitSource",
    "git_error_text",
    "printable",
    "scrub",
    "ssh_command",
    "strip_credentials",
]

logger = logging.getLogger(__name__)

_COMMIT_FORMAT = "%x1e%H%x1f%an <%ae>%x1f%ct%x1f%B"


def _normalise_path(path: str) -> str:
    pure = PurePosixPath(path.strip() or ".")
    if pure.is_absolute() or ".." in pure.parts:
        raise SourceError(f"spec path {path!r} must be relative to the repository root")
    return "" if str(pure) == "." else str(pure)


def printable(name: str) -> str:
    """A file name safe to put in a log line or a status: control and format characters
    (a newline, an escape sequence, a bidirectional override) written as escapes."""
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in name)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def git_error_text(error: git.GitCommandError) -> str:
    """Git's own complaint, one line, without gitpython's wrapping or the command line."""
    stderr = error.stderr if isinstance(error.stderr, str) else str(error.stderr or "")
    stderr = stderr.strip()
    if stderr.startswith("stderr: "):
        stderr = stderr.removeprefix("stderr: ").strip("'")
    lines: list[str] = []
    for raw in stderr.splitlines():
        line = re.sub(r"^(fatal|error): ", "", raw.strip())
        if line and line not in lines:
            lines.append(line)
    return "; ".join(lines) or f"git exited with status {error.status}"


class GitSource:
    """Rollout specs from one branch of a Git repository, read at one commit per sync.

    ``url`` may be https (token from ``ROLLOUT_GIT_TOKEN`` or the URL's own userinfo), ssh
    (key from ``ROLLOUT_GIT_SSH_KEY``), ``git://``, ``file://`` or a local path. Only YAML
    files under ``path`` are read. ``poll_interval`` is how often the scheduler should call
    ``sync``; the source itself never starts a thread.
    """

    def __init__(
        self,
        url: str,
        *,
        branch: str = "main",
        path: str = ".",
        cache_dir: str | os.PathLike[str],
        poll_interval: float = 60.0,
        credentials: GitCredentials | None = None,
        network_timeout: float = 60.0,
        max_file_bytes: int = yamldocs.MAX_FILE_BYTES,
        track_file_commits: bool = True,
    ) -> None:
        self._access = remote_access(url, credentials, branch)
        self.url = self._access.display_url
        self.branch = branch
        self.path = _normalise_path(path)
        self.cache_dir = Path(cache_dir).absolute()
        self.poll_interval = poll_interval
        self.network_timeout = network_timeout
        self.max_file_bytes = max_file_bytes
        self.track_file_commits = track_file_commits
        self._repo_dir = self.cache_dir / "mirror.git"
        self._askpass = self.cache_dir / "askpass.sh"
        self._tracking_ref = f"refs/heads/{branch}"
        self._git = git.Git(str(self.cache_dir))
        self._git.update_environment(GIT_DIR=str(self._repo_dir))
        self._lock = threading.Lock()
        self._verified = False
        self._snapshot: Snapshot | None = None
        self._skipped: dict[str, str] = {}
        self._texts_by_blob: dict[str, str] = {}
        self._status = SyncStatus()

    def __repr__(self) -> str:
        return f"GitSource({self.url!r}, branch={self.branch!r}, path={self.path or '.'!r})"

    @property
    def snapshot(self) -> Snapshot | None:
        """The last good snapshot, kept across failed syncs."""
        return self._snapshot

    @property
    def status(self) -> SyncStatus:
        """When the source last tried and succeeded, and the last error (scrubbed)."""
        return self._status

    @property
    def skipped_files(self) -> Mapping[str, str]:
        """Spec files of the last snapshot left out, with why (too large, binary, a link, a
        submodule); the same as the snapshot's ``unreadable``."""
        return dict(self._skipped)

    def sync(self) -> Snapshot:
        """Fetch the branch and return its snapshot; raise ``SourceError`` on failure."""
        with self._lock:
            attempted_at = _now()
            started = time.monotonic()
            try:
                snapshot = self._sync_with_recovery()
            except SourceError as error:
                message = self._access.scrub(str(error))
                self._status = dataclasses.replace(
                    self._status,
                    last_attempt_at=attempted_at,
                    last_error=message,
                    consecutive_failures=self._status.consecutive_failures + 1,
                    last_duration_seconds=time.monotonic() - started,
                )
                logger.warning("git sync failed: %s", message)
                raise SourceError(message) from None
            if self._snapshot is None or self._snapshot.sha != snapshot.sha:
                logger.info(
                    "git source %s at %s", self.url, self._access.scrub(str(snapshot.commit))
                )
            self._snapshot = snapshot
            self._status = SyncStatus(
                last_attempt_at=attempted_at,
                last_success_at=_now(),
                commit=snapshot.sha,
                last_duration_seconds=time.monotonic() - started,
            )
            return snapshot

    def close(self) -> None:
        """Stop the long-lived ``git cat-file`` helpers this source started."""
        self._git.clear_cache()

    # -- the cache --------------------------------------------------------------------------

    def _sync_with_recovery(self) -> Snapshot:
        if not self._verified and self._repo_dir.exists() and not self._cache_is_healthy():
            self._recreate_cache("failed its check at start")
        self._verified = True
        try:
            return self._fetch_and_read()
        except SourceError:
            if self._cache_is_healthy():
                raise
        self._recreate_cache("is damaged")
        return self._fetch_and_read()

    def _cache_is_healthy(self) -> bool:
        if not (self._repo_dir / "HEAD").is_file():
            return False
        try:
            if self._git.config("--get", "remote.origin.url") != self._access.fetch_url:
                return False
            self._git.fsck(
                "--connectivity-only",
                "--no-dangling",
                "--no-progress",
                kill_after_timeout=self.network_timeout,
            )
        except git.GitCommandError as error:
            logger.info("git cache check failed: %s", self._access.scrub(git_error_text(error)))
            return False
        return True

    def _recreate_cache(self, why: str) -> None:
        logger.warning("git cache %s %s; cloning again", self._repo_dir, why)
        self._git.clear_cache()
        shutil.rmtree(self._repo_dir, ignore_errors=True)

    def _initialise(self) -> None:
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        gitauth.write_askpass(self._askpass)
        if (self._repo_dir / "HEAD").is_file():
            return
        shutil.rmtree(self._repo_dir, ignore_errors=True)
        try:
            self._git.init("--bare", "--quiet")
            self._git.config("remote.origin.url", self._access.fetch_url)
            self._git.config("core.logAllRefUpdates", "false")
            self._git.config("gc.autoDetach", "false")
            self._git.symbolic_ref("HEAD", self._tracking_ref)
        except git.GitCommandError as error:
            raise SourceError(
                f"cannot create the git cache in {self._repo_dir}: {git_error_text(error)}"
            ) from None

    # -- fetching ---------------------------------------------------------------------------

    def _fetch_and_read(self) -> Snapshot:
        self._initialise()
        refspec = f"+refs/heads/{self.branch}:{self._tracking_ref}"
        try:
            self._git.execute(
                ["git", "fetch", "--quiet", "--no-tags", "--no-auto-gc", "origin", refspec],
                env=self._access.environment(askpass=self._askpass, timeout=self.network_timeout),
                kill_after_timeout=self.network_timeout,
            )
        except git.GitCommandError as error:
            raise self._fetch_error(error) from None
        sha = self._run("rev-parse", "--verify", f"{self._tracking_ref}^{{commit}}").strip()
        if self._snapshot is not None and self._snapshot.sha == sha:
            return self._snapshot
        snapshot = self._read_snapshot(sha)
        try:
            self._run("gc", "--auto", "--quiet")
        except SourceError as error:  # housekeeping only: the snapshot is good
            logger.info("git cache housekeeping failed: %s", error)
        return snapshot

    def _fetch_error(self, error: git.GitCommandError) -> SourceError:
        text = self._access.scrub(git_error_text(error))
        where = f"branch {self.branch!r} of {self.url}"
        if "couldn't find remote ref" in text:
            return SourceError(f"{where}: the branch does not exist on the remote")
        if "did not complete in" in text or "timed out" in text.lower():
            return SourceError(f"{where}: fetch timed out after {self.network_timeout:g}s")
        return SourceError(f"cannot fetch {where}: {text}")

    def _run(self, *args: str) -> str:
        try:
            return str(self._git.execute(["git", *args], kill_after_timeout=self.network_timeout))
        except git.GitCommandError as error:
            text = self._access.scrub(git_error_text(error))
            raise SourceError(f"git {args[0]} failed in the cache: {text}") from None

    # -- reading one commit -----------------------------------------------------------------

    def _read_snapshot(self, sha: str) -> Snapshot:
        commit = self._commits(sha, max_count=1)[0][0]
        listing = ["ls-tree", "-r", "-l", "-z", "--full-tree", sha]
        if self.path:
            listing += ["--", self.path]
        files: dict[str, str] = {}
        skipped: dict[str, str] = {}
        texts_by_blob: dict[str, str] = {}
        for entry in self._run(*listing).split("\0"):
            if not entry:
                continue
            meta, _, name = entry.partition("\t")
            mode, kind, blob, size = meta.split()
            shown = printable(name)
            if kind == "commit":
                skipped[shown] = "a submodule: its files are not read"
                continue
            if kind != "blob" or not is_spec_file(name):
                continue
            if not size.isdigit():
                raise SourceError(f"object {blob} of {shown} is missing from the cache")
            too_large = yamldocs.too_large(int(size), self.max_file_bytes)
            if shown != name:
                skipped[shown] = "a file name with control characters"
            elif mode not in ("100644", "100755"):
                skipped[name] = yamldocs.LINK_REFUSED
            elif too_large:
                skipped[name] = too_large
            else:
                text = self._texts_by_blob.get(blob) or self._blob_text(blob)
                if text is None:
                    skipped[name] = yamldocs.BINARY_REFUSED
                else:
                    files[name] = texts_by_blob[blob] = text
        file_commits = self._file_commits(sha, files) if self.track_file_commits else {}
        self._skipped = skipped
        self._texts_by_blob = texts_by_blob
        return Snapshot(
            source=self.url,
            branch=self.branch,
            path=self.path or ".",
            commit=commit,
            files=files,
            file_commits=file_commits,
            unreadable=skipped,
        )

    def _blob_text(self, blob: str) -> str | None:
        try:
            data = self._git.get_object_data(blob)[3]
        except (git.GitCommandError, ValueError, OSError) as error:
            raise SourceError(f"cannot read object {blob} from the cache: {error}") from None
        return yamldocs.spec_text(data)

    def _commits(
        self, revision: str, *, paths: Sequence[str] | None = None, max_count: int | None = None
    ) -> list[tuple[CommitInfo, list[str]]]:
        """Commits reachable from ``revision`` (newest first).

        With ``paths`` (an empty list meaning the whole tree), only commits that changed
        them, each with the paths it changed.
        """
        args = ["log", "-z", f"--format={_COMMIT_FORMAT}", "--no-renames"]
        if max_count is not None:
            args.append(f"--max-count={max_count}")
        if paths is not None:
            args.append("--name-only")
        args += [revision, "--", *(paths or [])]
        commits: list[tuple[CommitInfo, list[str]]] = []
        for record in self._run(*args).split("\x1e")[1:]:
            header, _, names = record.partition("\0")
            sha, author, timestamp, message = header.split("\x1f", 3)
            info = CommitInfo(
                sha=sha,
                author=author,
                summary=(message.strip().splitlines() or [""])[0],
                committed_at=datetime.datetime.fromtimestamp(int(timestamp), datetime.UTC),
            )
            commits.append((info, [n.strip("\n") for n in names.split("\0") if n.strip("\n")]))
        return commits

    def _file_commits(self, sha: str, files: Mapping[str, str]) -> dict[str, CommitInfo]:
        """The last commit that changed each file, walking only what changed when possible."""
        wanted = set(files)
        found: dict[str, CommitInfo] = {}
        previous = self._snapshot
        revision = sha
        if previous is not None and previous.file_commits and self._is_ancestor(previous.sha, sha):
            revision = f"{previous.sha}..{sha}"
        scope = [self.path] if self.path else []
        for commit, names in self._commits(revision, paths=scope):
            for name in names:
                if name in wanted and name not in found:
                    found[name] = commit
        missing = wanted - found.keys()
        if revision != sha and previous is not None:
            for name in list(missing):
                if name in previous.file_commits:
                    found[name] = previous.file_commits[name]
                    missing.discard(name)
            if missing:
                for commit, names in self._commits(sha, paths=sorted(missing)):
                    for name in names:
                        found.setdefault(name, commit)
        return found

    def _is_ancestor(self, ancestor: str, descendant: str) -> bool:
        try:
            self._git.merge_base("--is-ancestor", ancestor, descendant)
        except git.GitCommandError:
            return False
        return True
