"""Three controller replicas share 300 rollouts through shard Leases; one is SIGKILLed.

Three ``rollout run`` processes (identities ``rollout-controller-0..2``, ``--shards 6
--replicas 3``) run against one API server, a real Prometheus and one Git repository of
300 rollout specs. Once each replica holds the two shards it prefers, v2 is pushed to all
300; while they are mid-rollout replica 1 is killed with SIGKILL. Its shards are taken over
when their Leases expire. Outputs:

- every rollout finishes as an uninterrupted one does: ``Succeeded`` on v2, its
  VirtualService (seen by a watch) walking the plan's canary weights 20, 50, 100 in order,
  the killed replica's rollouts exactly like the others';
- from the API server's request log, every write to a rollout (its Rollout, status or
  VirtualService) comes from the replica holding its shard: after the replicas settled, a
  rollout has at most two writers in turn - the killed replica and then one survivor, never
  interleaved - and the other rollouts one writer only.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml

from bench.scale_world import (
    NAMESPACE,
    SPEC_HEAD,
    SpecRepo,
    SyntheticExporter,
    install_service_objects,
    service_names,
)
from kubelite import RequestRecord
from rollout.shards import ShardPlan, shard_of
from rollout_local.processes.prometheus_server import PrometheusServer
from tests.e2e.controller_process import ControllerProcess
from tests.e2e.world import REPO_ROOT, wait_for
from tests.kube_servers import ApiServer, create_namespaces, install_crd

pytestmark = [pytest.mark.slow, pytest.mark.cluster, pytest.mark.timeout(2400)]

ROLLOUTS = 300
SHARDS = 6
REPLICAS = 3
VICTIM = 1
PLAN = [20, 50, 100]
SPEC = (
    SPEC_HEAD
    + """\
  steps:
    - setWeight: 20
    - pause: {duration: 20s}
    - setWeight: 50
    - pause: {duration: 20s}
    - setWeight: 100
  analysis:
    interval: 2s
""".replace("{", "{{").replace("}", "}}")
)
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
LEASE_NAMESPACE = "default"


def identity(ordinal: int) -> str:
    return f"rollout-controller-{ordinal}"


class CanaryWalks:
    """Per VirtualService, the distinct canary weights of ``version`` in the order written."""

    def __init__(self, api: kubernetes.client.ApiClient, version: str) -> None:
        self.version = version
        self.walks: dict[str, list[int]] = defaultdict(list)
        self._custom = kubernetes.client.CustomObjectsApi(api)
        self._watch = kubernetes.watch.Watch()
        self._stopped = threading.Event()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> CanaryWalks:
        self._thread.start()
        assert self._started.wait(30), "the VirtualService watch did not start"
        return self

    def _run(self) -> None:
        group = ("networking.istio.io", "v1", NAMESPACE, "virtualservices")
        listed: Any = self._custom.list_namespaced_custom_object(*group)
        version = listed["metadata"]["resourceVersion"]
        self._started.set()
        while not self._stopped.is_set():
            try:
                for event in self._watch.stream(
                    self._custom.list_namespaced_custom_object,
                    *group,
                    resource_version=version,
                    timeout_seconds=30,
                ):
                    body = event["object"]
                    version = body["metadata"]["resourceVersion"]
                    self._note(body["metadata"]["name"], body)
            except Exception:  # a dropped stream: carry on from the last version seen
                if self._stopped.is_set():
                    return

    def _note(self, name: str, body: dict[str, Any]) -> None:
        routes = [r for h in body.get("spec", {}).get("http", []) for r in h.get("route", [])]
        weight = sum(
            int(r.get("weight", 100 if len(routes) == 1 else 0))
            for r in routes
            if r["destination"].get("subset") == self.version
        )
        walk = self.walks[name]
        if weight and (not walk or walk[-1] != weight):
            walk.append(weight)

    def stop(self) -> None:
        self._stopped.set()
        self._watch.stop()


def rollouts(api: kubernetes.client.ApiClient) -> dict[str, dict[str, Any]]:
    custom = kubernetes.client.CustomObjectsApi(api)
    listed: Any = custom.list_namespaced_custom_object(
        "canary.rollout.dev", "v1alpha1", NAMESPACE, "rollouts"
    )
    return {item["metadata"]["name"]: item.get("status") or {} for item in listed["items"]}


def lease_holders(api: kubernetes.client.ApiClient) -> dict[int, str]:
    coordination = kubernetes.client.CoordinationV1Api(api)
    holders: dict[int, str] = {}
    for shard in range(SHARDS):
        try:
            lease = coordination.read_namespaced_lease(f"rollout-controller-{shard}", "default")
        except kubernetes.client.ApiException:
            continue
        holders[shard] = (lease.spec.holder_identity if lease.spec else None) or ""
    return holders


def writers_by_rollout(records: list[RequestRecord]) -> dict[str, list[str]]:
    """Per rollout, the identities that wrote its Rollout or VirtualService, as runs in log
    order (``[a, a, b]`` -> ``[a, b]``)."""
    runs: dict[str, list[str]] = defaultdict(list)
    for record in records:
        if record.method not in WRITES or record.namespace != NAMESPACE or not record.name:
            continue
        if record.resource not in {"rollouts", "virtualservices"}:
            continue
        if "rollout-controller/" not in record.user_agent:
            continue
        writer = record.user_agent.split("(")[-1].rstrip(")")
        if not runs[record.name] or runs[record.name][-1] != writer:
            runs[record.name].append(writer)
    return runs


@pytest.fixture
def world(
    apiserver: ApiServer, api_client: kubernetes.client.ApiClient, tmp_path: Path
) -> Iterator[tuple[list[ControllerProcess], SpecRepo]]:
    names = service_names(ROLLOUTS)
    install_crd(api_client, yaml.safe_load((REPO_ROOT / "manifests" / "crd.yaml").read_text()))
    create_namespaces(api_client, NAMESPACE)
    install_service_objects(api_client, names)
    exporter = SyntheticExporter([f"{n}-{v}" for n in names for v in ("v1", "v2")])
    scrape = [{"job_name": "istio", "static_configs": [{"targets": [exporter.target]}]}]
    repo = SpecRepo(tmp_path / "git", names, spec=SPEC)
    repo.push("v1")
    kubeconfig = apiserver.write_kubeconfig(tmp_path / "kubeconfig")
    with PrometheusServer(scrape_configs=scrape, scrape_interval=2.0) as prometheus:
        prometheus.wait_for_targets()
        replicas = [
            ControllerProcess(
                [
                    *("--git-url", repo.url, "--cache-dir", str(tmp_path / f"cache-{k}")),
                    *("--poll-interval", "2", "--kubeconfig", str(kubeconfig)),
                    *("--prometheus-url", prometheus.url, "--listen", "127.0.0.1:0"),
                    *("--identity", identity(k), "--lease-namespace", LEASE_NAMESPACE),
                    *("--shards", str(SHARDS), "--replicas", str(REPLICAS)),
                    *("--log-format", "json", "--log-level", "warning"),
                ],
                tmp_path / f"controller-{k}.log",
            )
            for k in range(REPLICAS)
        ]
        for replica in replicas:
            replica.start()
        try:
            yield replicas, repo
        finally:
            for replica in replicas:
                replica.stop()
            exporter.close()


def test_three_replicas_share_the_rollouts_and_survive_one_killed_mid_rollout(
    world: tuple[list[ControllerProcess], SpecRepo],
    api_client: kubernetes.client.ApiClient,
    apiserver: ApiServer,
) -> None:
    replicas, repo = world
    names = repo.names
    preferred = {
        shard: identity(k)
        for k in range(REPLICAS)
        for shard in range(SHARDS)
        if ShardPlan(SHARDS, REPLICAS, k).prefers(shard)
    }

    def adopted() -> bool:
        found = rollouts(api_client)
        return len(found) == ROLLOUTS and all(
            s.get("stableVersion") == "v1" for s in found.values()
        )

    wait_for(adopted, timeout=900, what="every rollout adopted at v1")
    wait_for(
        lambda: lease_holders(api_client) == preferred,
        timeout=300,
        what="each replica holding the shards it prefers",
    )
    settled = len(apiserver.requests)

    walks = CanaryWalks(api_client, "v2").start()
    try:
        repo.push("v2")
        victim_rollouts = [n for n in names if shard_of(f"{NAMESPACE}/{n}", SHARDS) % 3 == VICTIM]
        assert victim_rollouts, "the victim holds some rollouts"

        def victim_mid_rollout() -> bool:
            moving = [n for n in victim_rollouts if walks.walks.get(n)]
            return len(moving) >= len(victim_rollouts) // 2

        wait_for(victim_mid_rollout, timeout=600, what="the victim's rollouts under way")
        moved_by_victim = {n for n in victim_rollouts if walks.walks.get(n)}
        replicas[VICTIM].kill()
        unfinished = {
            n
            for n, s in rollouts(api_client).items()
            if n in victim_rollouts and s.get("phase") != "Succeeded"
        }
        interrupted = unfinished & moved_by_victim
        assert interrupted, "the kill came mid-rollout for some of the victim's rollouts"

        def all_succeeded() -> bool:
            found = rollouts(api_client)
            return all(
                s.get("phase") == "Succeeded" and s.get("stableVersion") == "v2"
                for s in found.values()
            )

        wait_for(all_succeeded, timeout=1200, what="every rollout Succeeded on v2")
        wait_for(
            lambda: all(walks.walks.get(n, [])[-1:] == [100] for n in names),
            timeout=60,
            what="every VirtualService at 100% v2 in the watch",
        )
    finally:
        walks.stop()

    assert {n: walks.walks[n] for n in names} == {n: PLAN for n in names}
    holders = lease_holders(api_client)
    assert identity(VICTIM) not in holders.values(), "the victim's shards were taken over"
    assert set(holders.values()) == {identity(0), identity(2)}

    runs = writers_by_rollout(apiserver.requests[settled:])
    assert set(runs) == set(names), "every rollout was written after the push"
    for name in names:
        owner = preferred[shard_of(f"{NAMESPACE}/{name}", SHARDS)]
        if owner == identity(VICTIM):
            # the victim's rollouts: the victim, then one successor; a rollout the victim
            # had not reached before it died is the successor's alone
            assert len(runs[name]) <= 2, (name, runs[name])
            assert owner not in runs[name][1:], (name, runs[name])
            if name in moved_by_victim:
                assert runs[name][0] == owner, (name, runs[name])
            if name in interrupted:
                assert len(runs[name]) == 2, (name, runs[name])
        else:
            assert runs[name] == [owner], (name, runs[name])
