"""Fixtures for the controller's HTTP server tests: a started server and what it calls.

Inputs: a free port on 127.0.0.1. Outputs: ``metrics`` (a fresh
:class:`~rollout.server.metrics.ControllerMetrics`), ``pushes`` (the list that the
``on_push`` callback appends ``(branch, commit)`` to) and ``server`` (a started
:class:`~rollout.server.http.ControllerServer` with hooks on, stopped after the test).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rollout.server.http import ControllerServer
from rollout.server.metrics import ControllerMetrics
from rollout.state import Phase
from tests.server.hook_secret import HOOK_SECRET


@pytest.fixture
def metrics() -> ControllerMetrics:
    return ControllerMetrics(known_phases=[phase.value for phase in Phase])


@pytest.fixture
def pushes() -> list[tuple[str | None, str | None]]:
    return []


@pytest.fixture
def server(
    metrics: ControllerMetrics, pushes: list[tuple[str | None, str | None]]
) -> Iterator[ControllerServer]:
    def on_push(branch: str | None, commit: str | None) -> None:
        pushes.append((branch, commit))

    with ControllerServer(
        metrics=metrics,
        port=0,
        on_push=on_push,
        hook_secret=HOOK_SECRET,
        max_body_bytes=64 * 1024,
    ) as started:
        yield started
