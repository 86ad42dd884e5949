"""Leader election on a coordination.k8s.io/v1 Lease, against the local API server.

Inputs: one or two :class:`LeaderElector` instances, each with its own official-client
``ApiClient``, competing for one Lease with short timings (lease 2 s, renew deadline 1.4 s,
retry 0.3 s). Outputs: ``is_leader`` sampled every 10 ms (never two leaders; the other
takes over within lease duration + retry period after a crash or a pause, and within a
retry period after a graceful release), the callbacks and their order, and the Lease as
stored: holder, MicroTime timestamps with six fractional digits, ``leaseTransitions``.
For shard Leases: a patient candidate leaves a free Lease to the one that prefers it (and
takes one nobody claims), and a holder hands a Lease back to a reclaiming candidate with
never two leaders on the way.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kubernetes
import pytest

from rollout.kube.lease import LeaderElector
from rollout.kube.lease_objects import micro_time
from tests.kube.tcp_relay import TcpRelay
from tests.kube_clients import new_api_client

pytestmark = pytest.mark.cluster

NAMESPACE = "default"
LEASE = "rollout-controller"
LEASE_DURATION = 2
RENEW_DEADLINE = 1.4
RETRY_PERIOD = 0.3
SLACK = 0.5  # scheduling noise on a shared two-core machine
MICRO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|\+00:00)$")


class Candidate:
    """An elector plus a record of its callbacks, in order, with the lease at each one."""

    def __init__(
        self,
        api: Any,
        identity: str,
        *,
        on_started: Callable[[], None] | None = None,
        **options: Any,
    ):
        self.events: list[str] = []
        self._extra_on_started = on_started
        self._reader = kubernetes.client.CoordinationV1Api(api)
        self.holder_when_stopped: list[str] = []
        self.elector = LeaderElector(
            api,
            NAMESPACE,
            LEASE,
            identity,
            lease_duration=LEASE_DURATION,
            renew_deadline=RENEW_DEADLINE,
            retry_period=RETRY_PERIOD,
            on_started_leading=self._started,
            on_stopped_leading=self._stopped,
            **options,
        )

    def _started(self) -> None:
        self.events.append("started")
        if self._extra_on_started is not None:
            self._extra_on_started()

    def _stopped(self) -> None:
        self.events.append("stopped")
        try:
            holder = read_lease(self._reader)["spec"]["holderIdentity"]
        except Exception:  # the API may be out of reach: that is what some tests do
            holder = "<unreachable>"
        self.holder_when_stopped.append(holder)


@pytest.fixture
def make_candidate(kubeconfig: Path) -> Iterator[Callable[..., Candidate]]:
    created: list[tuple[Candidate, Any]] = []

    def make(identity: str, **kwargs: Any) -> Candidate:
        client = new_api_client(kubeconfig)
        candidate = Candidate(client, identity, **kwargs)
        created.append((candidate, client))
        return candidate

    yield make
    for candidate, client in created:
        candidate.elector.stop()
        client.close()


def read_lease(api: Any) -> dict[str, Any]:
    response = api.read_namespaced_lease(
        LEASE, NAMESPACE, _preload_content=False, _request_timeout=2
    )
    return dict(json.loads(response.data))


def wait_for(condition: Callable[[], bool], *, timeout: float) -> float:
    """Seconds until ``condition`` held; fails the test after ``timeout``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(0.01)
    return time.monotonic() - started


def sample_leaders(electors: list[LeaderElector], seconds: float) -> list[int]:
    """How many electors claimed leadership at each 10 ms sample over ``seconds``."""
    counts = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        counts.append(sum(elector.is_leader for elector in electors))
        time.sleep(0.01)
    return counts


@pytest.fixture
def coordination(api_client: Any) -> Any:
    return kubernetes.client.CoordinationV1Api(api_client)


# -- one candidate ----------------------------------------------------------------------


def test_the_first_candidate_creates_the_lease_and_renews_it(
    make_candidate: Callable[..., Candidate], coordination: Any
) -> None:
    only = make_candidate("replica-a")
    only.elector.start()
    wait_for(lambda: only.elector.is_leader, timeout=2)
    created = read_lease(coordination)["spec"]
    assert created["holderIdentity"] == "replica-a"
    assert created["leaseDurationSeconds"] == LEASE_DURATION
    assert created["leaseTransitions"] == 0
    assert MICRO_TIME.match(created["renewTime"]) and MICRO_TIME.match(created["acquireTime"])

    time.sleep(3 * RETRY_PERIOD)
    renewed = read_lease(coordination)["spec"]
    assert renewed["renewTime"] > created["renewTime"]
    assert renewed["acquireTime"] == created["acquireTime"]
    assert renewed["leaseTransitions"] == 0
    assert only.events == ["started"]
    assert only.elector.holder == "replica-a"


def test_micro_time_always_has_six_fractional_digits() -> None:
    whole_second = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    assert micro_time(whole_second).isoformat() == "2024-05-01T12:00:00.000001+00:00"
    assert micro_time(whole_second.replace(microsecond=42)).microsecond == 42


@pytest.mark.parametrize(
    "timings",
    [
        {"lease_duration": 2, "renew_deadline": 2.0, "retry_period": 0.3},
        {"lease_duration": 2, "renew_deadline": 1.0, "retry_period": 0.9},
        {"lease_duration": 1.5, "renew_deadline": 1.0, "retry_period": 0.3},
        {"lease_duration": 0, "renew_deadline": -1.0, "retry_period": -2.0},
    ],
)
def test_inconsistent_timings_are_refused(api_client: Any, timings: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        LeaderElector(api_client, NAMESPACE, LEASE, "replica-a", **timings)
    with pytest.raises(ValueError):
        LeaderElector(api_client, NAMESPACE, LEASE, "")


# -- two candidates ---------------------------------------------------------------------


def test_exactly_one_of_two_leads(make_candidate: Callable[..., Candidate]) -> None:
    first, second = make_candidate("replica-a"), make_candidate("replica-b")
    first.elector.start()
    second.elector.start()
    wait_for(lambda: first.elector.is_leader or second.elector.is_leader, timeout=2)
    counts = sample_leaders([first.elector, second.elector], 3.0)
    assert set(counts) == {1}, "exactly one leader at every sample"
    leader, follower = (first, second) if first.elector.is_leader else (second, first)
    assert leader.events == ["started"]
    assert follower.events == []
    assert follower.elector.holder == leader.elector.identity


def test_a_crashed_leader_is_replaced_within_lease_duration_plus_retry(
    make_candidate: Callable[..., Candidate], coordination: Any
) -> None:
    first, second = make_candidate("replica-a"), make_candidate("replica-b")
    first.elector.start()
    wait_for(lambda: first.elector.is_leader, timeout=2)
    second.elector.start()
    time.sleep(2 * RETRY_PERIOD)
    before = read_lease(coordination)["spec"]

    first.elector.stop(release=False)  # the thread ends, the lease is left to expire
    crashed_at = time.monotonic()
    counts: list[int] = []
    while not second.elector.is_leader:
        counts.append(first.elector.is_leader + second.elector.is_leader)
        assert time.monotonic() - crashed_at < LEASE_DURATION + RETRY_PERIOD + SLACK
        time.sleep(0.01)
    takeover = time.monotonic() - crashed_at
    assert max(counts, default=0) <= 1
    # not before the lease could have expired: the last renew was at most one retry ago
    assert takeover >= LEASE_DURATION - RETRY_PERIOD - 0.05
    assert takeover <= LEASE_DURATION + RETRY_PERIOD + SLACK

    after = read_lease(coordination)["spec"]
    assert after["holderIdentity"] == "replica-b"
    assert after["leaseTransitions"] == before["leaseTransitions"] + 1
    assert after["acquireTime"] > before["acquireTime"]
    assert set(sample_leaders([first.elector, second.elector], 1.0)) == {1}


def test_a_graceful_release_hands_over_at_once(
    make_candidate: Callable[..., Candidate], coordination: Any
) -> None:
    first, second = make_candidate("replica-a"), make_candidate("replica-b")
    first.elector.start()
    wait_for(lambda: first.elector.is_leader, timeout=2)
    second.elector.start()
    time.sleep(2 * RETRY_PERIOD)

    stopping = time.monotonic()
    first.elector.stop()
    assert not first.elector.is_leader
    # on_stopped_leading ran while the lease still named us: we stopped acting first
    assert first.events == ["started", "stopped"]
    assert first.holder_when_stopped == ["replica-a"]
    handover = wait_for(lambda: second.elector.is_leader, timeout=RETRY_PERIOD + SLACK)
    assert time.monotonic() - stopping <= RETRY_PERIOD + SLACK
    assert handover < LEASE_DURATION
    spec = read_lease(coordination)["spec"]
    assert (spec["holderIdentity"], spec["leaseTransitions"]) == ("replica-b", 1)


def test_a_paused_leader_stops_claiming_before_the_other_takes_over(
    make_candidate: Callable[..., Candidate],
) -> None:
    resume = threading.Event()
    # the leader's election thread hangs in its callback, as a stalled process would
    first = make_candidate("replica-a", on_started=lambda: resume.wait(10))
    second = make_candidate("replica-b")
    first.elector.start()
    wait_for(lambda: first.elector.is_leader, timeout=2)
    paused_at = time.monotonic()
    second.elector.start()

    counts: list[int] = []
    lost_claim_after = None
    while not second.elector.is_leader:
        leaders = first.elector.is_leader + second.elector.is_leader
        counts.append(leaders)
        if lost_claim_after is None and not first.elector.is_leader:
            lost_claim_after = time.monotonic() - paused_at
        assert time.monotonic() - paused_at < LEASE_DURATION + RETRY_PERIOD + SLACK
        time.sleep(0.01)
    assert max(counts) <= 1
    assert lost_claim_after is not None and lost_claim_after <= RENEW_DEADLINE + 0.05

    resume.set()  # the stalled leader wakes up, finds the lease taken and steps down
    wait_for(lambda: first.events == ["started", "stopped"], timeout=2 * RETRY_PERIOD + SLACK)
    assert set(sample_leaders([first.elector, second.elector], 1.0)) == {1}
    assert second.elector.is_leader


def test_a_leader_that_finds_another_holder_steps_down_at_once(
    make_candidate: Callable[..., Candidate], coordination: Any
) -> None:
    only = make_candidate("replica-a")
    only.elector.start()
    wait_for(lambda: only.elector.is_leader, timeout=2)
    lease = read_lease(coordination)
    lease["spec"]["holderIdentity"] = "intruder"
    lease["spec"]["renewTime"] = micro_time()
    coordination.replace_namespaced_lease(LEASE, NAMESPACE, lease)
    # the step-down callback runs on the election thread just after the flag drops
    wait_for(lambda: only.events == ["started", "stopped"], timeout=2 * RETRY_PERIOD + SLACK)
    assert not only.elector.is_leader
    assert only.elector.holder == "intruder"


def test_a_leader_cut_off_from_the_api_steps_down_at_the_renew_deadline(
    relayed_kubeconfig: tuple[Path, TcpRelay],
) -> None:
    path, relay = relayed_kubeconfig
    client: Any = new_api_client(path)
    only = Candidate(client, "replica-a")
    try:
        only.elector.start()
        wait_for(lambda: only.elector.is_leader, timeout=2)
        time.sleep(2 * RETRY_PERIOD)
        relay.cut()
        cut_at = time.monotonic()
        wait_for(lambda: not only.elector.is_leader, timeout=RENEW_DEADLINE + 0.1)
        wait_for(lambda: only.events == ["started", "stopped"], timeout=RETRY_PERIOD + SLACK)
        # it stopped acting before any other replica could have taken the lease over
        assert time.monotonic() - cut_at < LEASE_DURATION
    finally:
        only.elector.stop()
        client.close()


# -- shard leases: patience and reclaim ------------------------------------------------


def test_a_patient_candidate_leaves_a_free_lease_to_the_one_that_prefers_it(
    make_candidate: Callable[..., Candidate],
) -> None:
    patient = make_candidate("replica-b", patience=60.0)
    preferring = make_candidate("replica-a", reclaim=True)
    patient.elector.start()
    time.sleep(5 * RETRY_PERIOD)  # the patient one has seen the lease absent for a while
    preferring.elector.start()
    wait_for(lambda: preferring.elector.is_leader, timeout=10)
    assert set(sample_leaders([patient.elector, preferring.elector], 1.0)) == {1}
    assert patient.events == []


def test_a_patient_candidate_takes_a_lease_nobody_claims(
    make_candidate: Callable[..., Candidate],
) -> None:
    patient = make_candidate("replica-b", patience=1.0)
    patient.elector.start()
    wait_for(lambda: patient.elector.is_leader, timeout=20)
    assert patient.events == ["started"]


def test_a_holder_hands_the_lease_back_to_the_candidate_that_reclaims_it(
    make_candidate: Callable[..., Candidate], coordination: Any
) -> None:
    holder = make_candidate("replica-b", patience=1.0)
    holder.elector.start()
    wait_for(lambda: holder.elector.is_leader, timeout=20)
    reclaiming = make_candidate("replica-a", reclaim=True)
    reclaiming.elector.start()
    counts: list[int] = []
    deadline = time.monotonic() + 20
    while not reclaiming.elector.is_leader and time.monotonic() < deadline:
        counts.append(holder.elector.is_leader + reclaiming.elector.is_leader)
        time.sleep(0.01)
    assert reclaiming.elector.is_leader, "the lease was not handed back"
    assert max(counts) <= 1, "never two leaders during the hand-back"
    assert holder.events == ["started", "stopped"]
    assert holder.holder_when_stopped == ["replica-b"]  # it stopped acting while holding
    assert read_lease(coordination)["spec"]["holderIdentity"] == "replica-a"
    assert set(sample_leaders([holder.elector, reclaiming.elector], 1.0)) == {1}
