"""Fixtures for the spec source tests: a bare Git remote with a clone that pushes to it, and
``git daemon`` or ``git http-backend`` in front of it, each stopped after the test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.source.git_servers import GitDaemon, Remote, SmartHttpServer


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    return Remote(tmp_path / "remote")


@pytest.fixture
def git_daemon(remote: Remote) -> Iterator[GitDaemon]:
    daemon = GitDaemon(remote.root)
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture
def http_remote(remote: Remote) -> Iterator[SmartHttpServer]:
    server = SmartHttpServer(remote.root, username="deploy-bot", password="tok-HTTP-7f3a9")
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()
        server.thread.join(timeout=10)
