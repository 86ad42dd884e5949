"""Reading a bare remote's history for the write-back tests, and a second pusher.

``tip``, ``show``, ``is_ancestor``, ``commits_with_trailer`` read what the branch holds;
``assert_only_fast_forwards`` reads the remote's reflog to show no push ever rewrote the
branch; ``ConcurrentPusher`` is someone else pushing unrelated commits at the same time.
"""

from __future__ import annotations

import random
import subprocess
import threading
import time
from pathlib import Path

from tests.source.git_servers import Remote, run_git


def tip(remote: Remote, branch: str = "main") -> str:
    return run_git("rev-parse", f"refs/heads/{branch}", cwd=remote.bare)


def show(remote: Remote, revision: str, path: str) -> str:
    """The file's exact text at ``revision`` (``run_git`` strips the output)."""
    done = subprocess.run(
        ["git", "cat-file", "blob", f"{revision}:{path}"],
        cwd=remote.bare, capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    return done.stdout


def is_ancestor(remote: Remote, ancestor: str, descendant: str) -> bool:
    try:
        run_git("merge-base", "--is-ancestor", ancestor, descendant, cwd=remote.bare)
    except AssertionError:
        return False
    return True


def assert_only_fast_forwards(remote: Remote, branch: str = "main") -> int:
    """Every update in the remote's reflog of ``branch`` kept the old tip; returns the count."""
    log_file = remote.bare / "logs" / "refs" / "heads" / branch
    updates = [line.split()[:2] for line in log_file.read_text().splitlines()]
    for old, new in updates:
        if set(old) != {"0"}:
            assert is_ancestor(remote, old, new), f"{old} -> {new} was not a fast-forward"
    return len(updates)


def commits_with_trailer(remote: Remote, revision: str) -> list[str]:
    found = run_git(
        "log", "--format=%H", "--fixed-strings", f"--grep=Rollout-Revision: {revision}", "main",
        cwd=remote.bare,
    )  # fmt: skip
    return found.split()


class ConcurrentPusher:
    """Someone else: a clone pushing unrelated commits to main in a loop (bounded)."""

    def __init__(self, remote: Remote, root: Path, *, max_pushes: int = 400) -> None:
        self.remote = remote
        self.work = root / "pusher"
        run_git("clone", "--quiet", str(remote.bare), str(self.work), cwd=root)
        self.pushed: list[str] = []
        self.rejections = 0
        self.max_pushes = max_pushes
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pusher", daemon=True)
        self.error: BaseException | None = None
        self._random = random.Random(11)

    def __enter__(self) -> ConcurrentPusher:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def wait_for(self, count: int, *, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.pushed) < count and time.monotonic() < deadline and self.error is None:
            time.sleep(0.01)
        assert self.error is None and len(self.pushed) >= count

    def _run(self) -> None:
        deadline = time.monotonic() + 60
        try:
            for number in range(self.max_pushes):
                if self._stop.is_set() or time.monotonic() > deadline:
                    return
                (self.work / "notes").mkdir(exist_ok=True)
                (self.work / "notes" / f"{number}.txt").write_text(f"note {number}\n")
                run_git("add", "notes", cwd=self.work)
                run_git("commit", "--quiet", "-m", f"note {number}", cwd=self.work)
                for _ in range(20):
                    try:
                        run_git("push", "--quiet", "origin", "HEAD:main", cwd=self.work)
                        break
                    except AssertionError:
                        self.rejections += 1
                        run_git("pull", "--quiet", "--rebase", "origin", "main", cwd=self.work)
                else:
                    raise AssertionError("the pusher could not push for 20 attempts")
                self.pushed.append(run_git("rev-parse", "HEAD", cwd=self.work))
                self._stop.wait(self._random.uniform(0.1, 0.3))  # ~5 pushes a second
        except BaseException as error:  # reported by wait_for and the test
            self.error = error
