"""Fixtures for the spec source tests: a bare Git remote with a clone that pushes to it, and
``git daemon`` or ``git http-backend`` in front of it, each stopped after the test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rollout.source.git import GitSource
from tests.source.git_servers import GitDaemon, Remote, SmartHttpServer
from tests.source.git_sources import NO_CREDENTIALS, MakeSource


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


@pytest.fixture
def make_source(tmp_path: Path) -> Iterator[MakeSource]:
    sources: list[GitSource] = []

    def make(url: str, **options: Any) -> GitSource:
        options.setdefault("cache_dir", tmp_path / "cache")
        options.setdefault("credentials", NO_CREDENTIALS)
        options.setdefault("network_timeout", 20.0)
        source = GitSource(url, **options)
        sources.append(source)
        return source

    yield make
    for source in sources:
        source.close()
