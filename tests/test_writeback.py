"""When a write-back is owed, and what the worker records after running it.

Inputs: a Rollout spec with and without ``writeBack``, states in every phase (with the
failed revision and the last verdict's evidence), the annotation of an earlier write-back,
and a real bare repository (or one that is missing). Outputs: the ``Rollback`` owed (or
None), the commit on the remote, and what the worker hands its store (annotations and
Events, a recording implementation of the ``StateStore`` and ``EventSink`` ports), its counter and
its ``on_written`` callback; failures retried only after the delay, and at most 5 times.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rollout.effects import RecordEvent
from rollout.ports import Stored
from rollout.source.gitauth import GitCredentials
from rollout.source.gitwrite import GitWriter
from rollout.spec.rollout import Rollout
from rollout.state import FailedRevision, Phase, RolloutState, VerdictRecord
from rollout.writeback import WRITE_BACK_ANNOTATION, WriteBackWorker, rollback_owed
from tests.source.git_servers import Remote, run_git

SPEC_PATH = "rollouts/checkout.yaml"
SPEC_TEXT = """\
apiVersion: canary.rollout.dev/v1alpha1
kind: Rollout
metadata: {name: checkout, namespace: shop}
spec:
  version: v3
  traffic: {host: checkout, destinationRule: checkout, virtualServices: [{name: checkout}]}
  writeBack: {enabled: true}
"""
EVIDENCE = {
    "policy": "istio-error-ratio",
    "check": "canary-vs-stable",
    "outcome": "fail",
    "message": "error ratio 0.050 > 0.010",
    "value": 0.05,
    "threshold": 0.01,
    "sample_size": 40,
    "p_value": 0.001,
}


def make_rollout(*, enabled: bool = True, version: str = "v3", **write_back: Any) -> Rollout:
    return Rollout.model_validate(
        {
            "apiVersion": "canary.rollout.dev/v1alpha1",
            "kind": "Rollout",
            "metadata": {"name": "checkout", "namespace": "shop"},
            "spec": {
                "version": version,
                "traffic": {
                    "host": "checkout",
                    "destinationRule": "checkout",
                    "virtualServices": [{"name": "checkout"}],
                },
                "writeBack": {"enabled": enabled, **write_back},
            },
        }
    )


def rolled_back(phase: Phase = Phase.ROLLED_BACK, **changes: Any) -> RolloutState:
    state = RolloutState(
        phase=phase,
        stable_version="v2",
        commit="0" * 40,
        revision="v3@4f1c2a9e0b7d",
        failed=FailedRevision(
            version="v3", spec_hash="4f1c2a9e0b7d" + "9" * 52, reason="rolled back", at=100.0
        ),
        last_verdict=VerdictRecord(outcome="fail", reason="x", at=99.0, evidence=[EVIDENCE]),
    )
    return state.model_copy(update=changes)


@dataclasses.dataclass
class RecordingStore:
    """The ``StateStore`` and ``EventSink`` ports, keeping what the worker hands them; the
    worker never reads or saves state, so those calls fail the test."""

    annotations: list[tuple[str, str, dict[str, str]]] = dataclasses.field(default_factory=list)
    events: list[tuple[str, str, bool]] = dataclasses.field(default_factory=list)

    def annotate(self, namespace: str, name: str, annotations: dict[str, str]) -> None:
        self.annotations.append((namespace, name, annotations))

    def record(self, namespace: str, name: str, uid: str, event: RecordEvent) -> str:
        self.events.append((event.reason, event.message, event.warning))
        return "event"

    def check_served(self) -> None:
        raise AssertionError("the write-back worker asks nothing of the API")

    def load(self, namespace: str, name: str) -> Stored:
        raise AssertionError("the write-back worker reads no state")

    def list_rollouts(self, namespace: str | None = None) -> list[Stored]:
        raise AssertionError("the write-back worker lists no rollouts")

    def save_state(
        self, namespace: str, name: str, state: RolloutState, resource_version: str | None
    ) -> str:
        raise AssertionError("the write-back worker saves no state")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    made = Remote(tmp_path / "remote")
    made.commit("checkout: roll out v3", {SPEC_PATH: SPEC_TEXT})
    made.push()
    return made


@pytest.fixture
def worker_parts(remote: Remote, tmp_path: Path) -> Iterator[tuple[WriteBackWorker, Any]]:
    store = RecordingStore()
    counted: list[str] = []
    written: list[bool] = []
    clock = Clock()
    writer = GitWriter(remote.file_url, cache_dir=tmp_path / "cache", credentials=GitCredentials())
    worker = WriteBackWorker(
        writer,
        store,
        store,
        on_written=lambda: written.append(True),
        count=lambda namespace, name, result: counted.append(result),
        retry_after=10.0,
        clock=clock,
    )
    yield worker, (store, counted, written, clock)
    worker.close()


def test_owed_only_after_a_rollback_of_a_spec_that_opted_in_and_still_asks_for_it() -> None:
    owed = rollback_owed(make_rollout(), rolled_back(), source_path=SPEC_PATH, annotations={})
    assert owed is not None
    assert (owed.failed_version, owed.stable_version, owed.revision) == ("v3", "v2", owed.revision)
    assert owed.revision == "v3@4f1c2a9e0b7d" and owed.spec_commit == "0" * 40
    assert owed.failed_checks == (
        "Failed check: istio-error-ratio/canary-vs-stable: value 0.05 against threshold 0.01 "
        "(n=40, p=0.001): error ratio 0.050 > 0.010",
    )
    assert rollback_owed(make_rollout(), rolled_back(Phase.FAILED), source_path=SPEC_PATH,
                         annotations={}) is not None  # fmt: skip
    not_owed = [
        (make_rollout(enabled=False), rolled_back(), SPEC_PATH, {}),
        (make_rollout(), rolled_back(Phase.SUCCEEDED), SPEC_PATH, {}),
        (make_rollout(), rolled_back(Phase.PROGRESSING), SPEC_PATH, {}),
        (make_rollout(), rolled_back(failed=None), SPEC_PATH, {}),
        (make_rollout(version="v4"), rolled_back(), SPEC_PATH, {}),  # the spec moved on
        (make_rollout(), rolled_back(), None, {}),  # not mirrored from Git (cluster mode)
        (
            make_rollout(),
            rolled_back(),
            SPEC_PATH,
            {WRITE_BACK_ANNOTATION: json.dumps({"revision": "v3@4f1c2a9e0b7d"})},
        ),
    ]
    for rollout, state, path, recorded in not_owed:
        assert rollback_owed(rollout, state, source_path=path, annotations=recorded) is None
    other_revision = {WRITE_BACK_ANNOTATION: json.dumps({"revision": "v3@000000000000"})}
    assert rollback_owed(
        make_rollout(), rolled_back(), source_path=SPEC_PATH, annotations=other_revision
    )


def test_the_worker_writes_once_and_records_it(
    worker_parts: tuple[WriteBackWorker, Any], remote: Remote
) -> None:
    worker, (store, counted, written, _) = worker_parts
    future = worker.consider(make_rollout(), rolled_back(), source_path=SPEC_PATH, annotations={})
    assert future is not None
    future.result(timeout=30)
    head = run_git("rev-parse", "refs/heads/main", cwd=remote.bare)
    assert "version: v2" in run_git("show", f"{head}:{SPEC_PATH}", cwd=remote.bare)
    assert counted == ["written"] and written == [True]
    ((namespace, name, annotations),) = store.annotations
    record = json.loads(annotations[WRITE_BACK_ANNOTATION])
    assert (namespace, name) == ("shop", "checkout")
    assert record == {
        "revision": "v3@4f1c2a9e0b7d",
        "outcome": "written",
        "branch": "main",
        "commit": head,
    }
    ((reason, message, warning),) = store.events
    assert reason == "WrittenBack" and head[:12] in message and not warning
    assert "spec.version set back to v2 in rollouts/checkout.yaml on main" in message
    # the next ticks (annotation not read back yet) do not queue it again
    again = worker.consider(make_rollout(), rolled_back(), source_path=SPEC_PATH, annotations={})
    assert again is None
    assert run_git("rev-parse", "refs/heads/main", cwd=remote.bare) == head


def test_a_status_file_on_its_own_branch(
    worker_parts: tuple[WriteBackWorker, Any], remote: Remote
) -> None:
    worker, (store, counted, _, _) = worker_parts
    rollout = make_rollout(mode="statusFile", branch="rollout-status")
    future = worker.consider(rollout, rolled_back(), source_path=SPEC_PATH, annotations={})
    assert future is not None
    future.result(timeout=30)
    text = run_git("show", "rollout-status:rollouts/checkout.status.yaml", cwd=remote.bare)
    assert "version: v3" in text and "outcome: RolledBack" in text
    assert (
        "status file written beside rollouts/checkout.yaml on rollout-status" in store.events[0][1]
    )
    assert counted == ["written"]


def test_a_failed_write_back_is_retried_after_a_growing_delay_then_given_up(
    worker_parts: tuple[WriteBackWorker, Any], remote: Remote
) -> None:
    worker, (store, counted, written, clock) = worker_parts
    remote.bare.rename(remote.bare.with_name("moved.git"))  # the remote is gone

    def attempt() -> bool:
        future = worker.consider(
            make_rollout(), rolled_back(), source_path=SPEC_PATH, annotations={}
        )
        if future is not None:
            future.result(timeout=30)
        return future is not None

    assert attempt()
    assert not attempt()  # within the delay: not asked again
    delays = []
    for _ in range(4):
        waited = 0.0
        while not attempt():
            clock.now += 5.0
            waited += 5.0
        delays.append(waited)
    assert delays == [10.0, 20.0, 40.0, 80.0]
    clock.now += 10_000
    assert not attempt()  # five failures: given up
    assert counted == ["failed"] * 5 and written == []
    reasons = [(reason, warning) for reason, _, warning in store.events]
    assert reasons == [("WriteBackFailed", True)] * 5
    assert "giving up" in store.events[-1][1] and "cannot fetch" in store.events[-1][1]
    assert store.annotations == []
