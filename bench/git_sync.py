"""How long GitSource.sync() takes on a repository of many spec files.

Builds a bare remote with N rollout specs (one commit adding them all, then a run of
commits each changing one spec, so per-file history is non-trivial), then times:
the first sync (empty cache: clone and read), a re-sync with nothing new, a re-sync after
one spec changed, and a sync by a fresh source on the warm cache (a controller restart).

    python bench/git_sync.py [--files 1000] [--history 100] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rollout.source.git import GitCredentials, GitSource

SPEC = """\
apiVersion: canary.rollout.dev/v1alpha1
kind: Rollout
metadata:
  name: service-{index}
  namespace: team-{team}
spec:
  service: service-{index}
  version: v{version}
  steps:
    - setWeight: 5
      pause: 2m
    - setWeight: 20
      pause: 5m
    - setWeight: 50
      pause: 5m
    - setWeight: 100
  analysis:
    policies: [error-ratio, latency-p99]
  notify:
    - slack: "#team-{team}"
"""
IDENTITY = {
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, env={**os.environ, **IDENTITY}, check=True)


def write_spec(work: Path, index: int, version: int) -> None:
    path = work / "specs" / f"team-{index % 20}" / f"service-{index}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(SPEC.format(index=index, team=index % 20, version=version))


def build_remote(root: Path, *, files: int, history: int) -> tuple[Path, Path]:
    bare, work = root / "remote.git", root / "work"
    git("init", "-q", "--bare", "--initial-branch=main", str(bare), cwd=root)
    git("init", "-q", "--initial-branch=main", str(work), cwd=root)
    for index in range(files):
        write_spec(work, index, 1)
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", f"Add {files} specs", cwd=work)
    for step in range(history):
        write_spec(work, (step * 37) % files, 2 + step)
        git("commit", "-q", "-am", f"Bump spec {step}", cwd=work)
    git("push", "-q", str(bare), "HEAD:main", cwd=work)
    return bare, work


def start_daemon(root: Path) -> tuple[subprocess.Popen[bytes], int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    daemon = subprocess.Popen(
        ["git", "daemon", "--export-all", "--reuseaddr", f"--base-path={root}",
         f"--port={port}", "--listen=127.0.0.1", str(root)],
        stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return daemon, port
        except OSError:
            time.sleep(0.05)
    os.killpg(daemon.pid, signal.SIGTERM)
    raise SystemExit("git daemon did not start")


def timed(action: Callable[[], object], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return samples


def describe(name: str, samples: list[float]) -> None:
    median = statistics.median(samples) * 1000
    print(f"{name:<42} median {median:8.1f} ms  (n={len(samples)}, max {max(samples) * 1000:.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--history", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rollout-bench-git-") as scratch:
        root = Path(scratch)
        bare, work = build_remote(root, files=options.files, history=options.history)
        print(f"{options.files} spec files, {options.history + 1} commits, file:// remote")

        def fresh(cache: str, track: bool = True) -> GitSource:
            return GitSource(
                bare.as_uri(),
                path="specs",
                cache_dir=root / cache,
                credentials=GitCredentials(),
                track_file_commits=track,
            )

        first: list[float] = []
        untracked: list[float] = []
        for attempt in range(options.repeat):
            for track, samples in ((True, first), (False, untracked)):
                source = fresh(f"cold-{track}-{attempt}", track)
                samples.extend(timed(source.sync, 1))
                assert len(source.sync().files) == options.files
                source.close()
        describe("first sync (clone + read + file history)", first)
        describe("first sync, without per-file history", untracked)

        source = fresh("warm")
        source.sync()
        describe("re-sync, nothing new", timed(source.sync, options.repeat * 4))

        changed: list[float] = []
        for step in range(options.repeat):
            write_spec(work, 1, 1000 + step)
            git("commit", "-q", "-am", "One more bump", cwd=work)
            git("push", "-q", str(bare), "HEAD:main", cwd=work)
            changed.extend(timed(source.sync, 1))
        describe("re-sync after one spec changed", changed)
        source.close()

        restarts: list[float] = []
        for _ in range(options.repeat):
            restarted = fresh("warm")
            restarts.extend(timed(restarted.sync, 1))
            restarted.close()
        describe("first sync on a warm cache (restart, fsck)", restarts)

        daemon, port = start_daemon(root)
        try:
            print(f"the same over git daemon (git://127.0.0.1:{port})")
            cold: list[float] = []
            for attempt in range(options.repeat):
                remote = GitSource(
                    f"git://127.0.0.1:{port}/remote.git",
                    path="specs",
                    cache_dir=root / f"daemon-{attempt}",
                    credentials=GitCredentials(),
                )
                cold.extend(timed(remote.sync, 1))
                if attempt == options.repeat - 1:
                    describe("first sync (clone + read + file history)", cold)
                    describe("re-sync, nothing new", timed(remote.sync, options.repeat * 4))
                remote.close()
        finally:
            os.killpg(daemon.pid, signal.SIGTERM)
            daemon.wait(timeout=10)


if __name__ == "__main__":
    main()
