"""The Rollout state store against the local API server, with the project's CRD applied.

Inputs: Rollout documents as the Git source reads them, states, commands and events.
Outputs: the resources and Events read back through the API; Conflict on a stale
resourceVersion; no write at all when a mirrored spec is unchanged; status and a pending
command surviving a spec mirror; and a restart mid-rollout, where a fresh store and router
on a new ApiClient read back the state and the live weights.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import kubernetes
import pytest

from rollout.drift import live_canary_weight, weight_drift
from rollout.effects import RecordEvent, SetWeights
from rollout.errors import Conflict, NotFound
from rollout.kube.event_recorder import EventRecorder
from rollout.kube.mirror import KubeSpecMirror
from rollout.kube.rollout_resource import (
    COMMAND_ANNOTATION,
    COMMIT_ANNOTATION,
    SOURCE_PATH_ANNOTATION,
)
from rollout.kube.status_times import status_to_wire
from rollout.kube.store import KubeStateStore
from rollout.mesh.istio import IstioRouter
from rollout.ports import MirrorResult
from rollout.spec.rollout import Rollout
from rollout.state import Condition, Phase, RolloutState, VerdictRecord
from tests.kube_clients import custom_objects, new_api_client
from tests.kube_servers import ApiServer, create_namespaces
from tests.mesh.objects import destination_rule, mesh_virtual_service

NAMESPACE = "shop"
PATH = "rollouts/checkout.yaml"

pytestmark = [pytest.mark.usefixtures("rollout_crd"), pytest.mark.cluster]


def rollout_body(
    version: str = "v2", *, name: str = "checkout", namespace: str = NAMESPACE
) -> dict[str, Any]:
    return {
        "apiVersion": "canary.rollout.dev/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name, "namespace": namespace, "labels": {"team": "payments"}},
        "spec": {
            "version": version,
            "traffic": {
                "host": "checkout.shop.svc.cluster.local",
                "virtualServices": [{"name": "checkout", "routes": ["primary", "fallback"]}],
                "destinationRule": "checkout",
            },
            "steps": [{"setWeight": 25}, {"pause": {}}, {"setWeight": 100}],
        },
    }


def writes(apiserver: ApiServer) -> list[str]:
    return [r.verb for r in apiserver.requests if r.verb in ("create", "update", "patch")]


@pytest.fixture
def store(api_client: kubernetes.client.ApiClient) -> KubeStateStore:
    create_namespaces(api_client, NAMESPACE, "web")
    return KubeStateStore(api_client)


@pytest.fixture
def mirror(store: KubeStateStore) -> KubeSpecMirror:
    return KubeSpecMirror(store)


def test_loading_a_missing_rollout_is_not_found(store: KubeStateStore) -> None:
    with pytest.raises(NotFound, match="rollout shop/checkout not found"):
        store.load(NAMESPACE, "checkout")


def test_mirror_creates_then_skips_unchanged_then_updates_spec_only(
    store: KubeStateStore, mirror: KubeSpecMirror, apiserver: ApiServer
) -> None:
    assert mirror.mirror_spec(rollout_body(), commit="c1", path=PATH) is MirrorResult.CREATED
    created = store.load(NAMESPACE, "checkout")
    assert created.spec == rollout_body()["spec"]
    assert created.annotations == {COMMIT_ANNOTATION: "c1", SOURCE_PATH_ANNOTATION: PATH}
    assert created.labels == {"team": "payments"}
    assert created.commit == "c1" and created.source_path == PATH
    assert created.state == RolloutState() and created.generation == 1

    apiserver.clear_requests()
    assert mirror.mirror_spec(rollout_body(), commit="c1", path=PATH) is MirrorResult.UNCHANGED
    assert mirror.mirror_spec(rollout_body(), commit="c2", path=PATH) is MirrorResult.UNCHANGED
    assert writes(apiserver) == [], "an unchanged spec is not written"

    state = RolloutState(phase=Phase.PROGRESSING, stable_version="v1", canary_version="v2")
    store.save_state(NAMESPACE, "checkout", state, created.resource_version)
    store.request_command(NAMESPACE, "checkout", "promote", "alice")
    apiserver.clear_requests()

    assert mirror.mirror_spec(rollout_body("v3"), commit="c3", path=PATH) is MirrorResult.UPDATED

    updated = store.load(NAMESPACE, "checkout")
    assert writes(apiserver) == ["patch"]
    assert updated.spec["version"] == "v3" and updated.commit == "c3"
    assert updated.state == state, "status untouched by the mirror"
    assert updated.command is not None and updated.command.action == "promote"
    assert updated.generation == 2


def test_mirror_removes_spec_fields_that_git_removed(
    store: KubeStateStore, mirror: KubeSpecMirror
) -> None:
    mirror.mirror_spec(rollout_body(), commit="c1", path=PATH)
    without_steps = rollout_body()
    del without_steps["spec"]["steps"]

    mirror.mirror_spec(without_steps, commit="c2", path=PATH)

    assert "steps" not in store.load(NAMESPACE, "checkout").spec


def test_a_rollout_read_again_at_the_same_resource_version_is_not_parsed_again(
    store: KubeStateStore, mirror: KubeSpecMirror
) -> None:
    mirror.mirror_spec(rollout_body(), commit="c1", path=PATH)
    read = store.load(NAMESPACE, "checkout")
    assert store.load(NAMESPACE, "checkout") is read
    state = RolloutState(phase=Phase.WAITING, stable_version="v1", canary_version="v2")
    store.save_state(NAMESPACE, "checkout", state, read.resource_version)
    after = store.load(NAMESPACE, "checkout")
    assert after is not read and after.state == state
    assert [item.state for item in store.list_rollouts(NAMESPACE)] == [state]


def test_save_with_a_stale_resource_version_is_a_conflict(
    store: KubeStateStore, mirror: KubeSpecMirror
) -> None:
    mirror.mirror_spec(rollout_body(), commit="c1", path=PATH)
    read = store.load(NAMESPACE, "checkout")
    first = RolloutState(phase=Phase.WAITING, stable_version="v1", canary_version="v2")
    new_version = store.save_state(NAMESPACE, "checkout", first, read.resource_version)
    assert new_version != read.resource_version

    second = first.model_copy(update={"phase": Phase.PROGRESSING, "canary_weight": 5})
    with pytest.raises(Conflict, match="rollout shop/checkout changed since resourceVersion"):
        store.save_state(NAMESPACE, "checkout", second, read.resource_version)

    assert store.load(NAMESPACE, "checkout").state == first
    store.save_state(NAMESPACE, "checkout", second, new_version)
    assert store.load(NAMESPACE, "checkout").state == second
    store.save_state(NAMESPACE, "checkout", RolloutState(), None)
    assert store.load(NAMESPACE, "checkout").state == RolloutState()


def test_the_status_written_is_what_the_generated_client_method_writes(
    api_client: kubernetes.client.ApiClient, store: KubeStateStore, mirror: KubeSpecMirror
) -> None:
    """The store sends the status as plain JSON through the client's ``ApiClient``; the
    generated method (argument validation, the body walked and copied first) must have
    written exactly the same status."""
    state = RolloutState(
        phase=Phase.PROGRESSING,
        stable_version="v1",
        canary_version="v2",
        canary_weight=10,
        step_index=1,
        message="analysing at 10% (35s of 60s)",
        conditions=[
            Condition(type="Ready", status="True", reason="Progressing", last_transition_time=7.0)
        ],
        last_verdict=VerdictRecord(
            outcome="pass",
            reason="within the SLO",
            at=1000.25,
            evidence=[{"policy": "errors", "value": 0.001, "pods": ["a", "b"], "nan": None}],
        ),
        analysis={"schema": 2, "ticks": 3, "policies": {"errors": {"comparison": [0.5, -1e12]}}},
    )
    objects = custom_objects(api_client)
    for name in ("lean", "generated"):
        mirror.mirror_spec(rollout_body(name=name), commit="c1", path=f"{name}.yaml")
    lean_version = store.load(NAMESPACE, "lean").resource_version
    store.save_state(NAMESPACE, "lean", state, lean_version)
    generated = store.read_object(NAMESPACE, "generated", fresh=True)
    generated["status"] = status_to_wire(state.to_status())
    objects.replace_namespaced_custom_object_status(
        "canary.rollout.dev", "v1alpha1", NAMESPACE, "rollouts", "generated", generated
    )

    def status(name: str) -> Any:
        return objects.get_namespaced_custom_object(
            "canary.rollout.dev", "v1alpha1", NAMESPACE, "rollouts", name
        )["status"]

    assert status("lean") == status("generated") == status_to_wire(state.to_status())
    assert store.load(NAMESPACE, "lean").state == state
    with pytest.raises(Conflict):
        store.save_state(NAMESPACE, "lean", state, lean_version)
    with pytest.raises(NotFound, match="rollout shop/absent not found"):
        store.save_state(NAMESPACE, "absent", state, "1")


def test_a_restart_mid_rollout_reads_back_state_and_weights(
    api_client: kubernetes.client.ApiClient,
    kubeconfig: Path,
    store: KubeStateStore,
    mirror: KubeSpecMirror,
) -> None:
    objects = custom_objects(api_client)
    for document in (destination_rule("v1", "v2"), mesh_virtual_service()):
        plural = document["kind"].lower() + "s"
        objects.create_namespaced_custom_object(
            "networking.istio.io", "v1", NAMESPACE, plural, document
        )
    body = rollout_body()
    rollout = Rollout.model_validate(body)
    mirror.mirror_spec(body, commit="c1", path=PATH)
    router = IstioRouter(api_client)
    router.set_weights(rollout, SetWeights("v1", "v2", 25))
    state = RolloutState(
        phase=Phase.PAUSED,
        stable_version="v1",
        canary_version="v2",
        canary_weight=25,
        step_index=1,
        step_started_at=1000.0,
    )
    store.save_state(
        NAMESPACE, "checkout", state, store.load(NAMESPACE, "checkout").resource_version
    )

    restarted_client = new_api_client(kubeconfig)
    try:
        fresh_store = KubeStateStore(restarted_client)
        fresh_router = IstioRouter(restarted_client)
        loaded = fresh_store.load(NAMESPACE, "checkout")
        assert loaded.state == state and loaded.resource_version
        routes = fresh_router.read_weights(rollout)
        stable, canary = rollout.subset_for("v1"), rollout.subset_for("v2")
        assert [dict(route.weights) for route in routes] == [{stable: 75, canary: 25}] * 2
        assert live_canary_weight(rollout, loaded.state, routes) == 25
        assert weight_drift(rollout, loaded.state, routes) is None
    finally:
        restarted_client.close()


def test_list_in_one_namespace_or_all(store: KubeStateStore, mirror: KubeSpecMirror) -> None:
    mirror.mirror_spec(rollout_body(name="payments"), commit="c1", path="a.yaml")
    mirror.mirror_spec(rollout_body(name="checkout"), commit="c1", path="b.yaml")
    mirror.mirror_spec(rollout_body(namespace="web"), commit="c1", path="c.yaml")

    assert [s.key for s in store.list_rollouts()] == [
        "shop/checkout",
        "shop/payments",
        "web/checkout",
    ]
    assert [s.key for s in store.list_rollouts("web")] == ["web/checkout"]


def test_commands_are_requested_and_read_back(
    store: KubeStateStore, mirror: KubeSpecMirror
) -> None:
    mirror.mirror_spec(rollout_body(), commit="c1", path=PATH)

    command = store.request_command(NAMESPACE, "checkout", "abort", "alice@example.com", at=50.0)

    stored = store.load(NAMESPACE, "checkout")
    assert json.loads(stored.annotations[COMMAND_ANNOTATION]) == {
        "id": command.id,
        "action": "abort",
        "by": "alice@example.com",
        "at": 50.0,
    }
    assert stored.command == command
    assert stored.annotations[SOURCE_PATH_ANNOTATION] == PATH, "other annotations kept"
    with pytest.raises(NotFound):
        store.request_command(NAMESPACE, "missing", "retry", "bob")
    with pytest.raises(ValueError, match="unknown action"):
        store.request_command(NAMESPACE, "checkout", "rollback", "bob")  # type: ignore[arg-type]


def test_an_unreadable_command_reads_as_none(
    store: KubeStateStore, mirror: KubeSpecMirror, api_client: kubernetes.client.ApiClient
) -> None:
    mirror.mirror_spec(rollout_body(), commit="c1", path=PATH)
    objects = custom_objects(api_client)
    for garbage in ("not json", '{"id": "x", "action": "explode"}', "[1]"):
        objects.patch_namespaced_custom_object(
            "canary.rollout.dev",
            "v1alpha1",
            NAMESPACE,
            "rollouts",
            "checkout",
            {"metadata": {"annotations": {COMMAND_ANNOTATION: garbage}}},
        )
        assert store.load(NAMESPACE, "checkout").command is None


def test_events_are_recorded_and_deduplicated(
    store: KubeStateStore, mirror: KubeSpecMirror, api_client: kubernetes.client.ApiClient
) -> None:
    mirror.mirror_spec(rollout_body(), commit="c1", path=PATH)
    uid = store.load(NAMESPACE, "checkout").uid
    core = kubernetes.client.CoreV1Api(api_client)

    events = EventRecorder(api_client)
    advanced = RecordEvent("StepAdvanced", "canary at 25%")
    first = events.record(NAMESPACE, "checkout", uid, advanced)
    again = events.record(NAMESPACE, "checkout", uid, advanced)
    other = events.record(
        NAMESPACE, "checkout", uid, RecordEvent("RolledBack", "error ratio 5% > 1%", warning=True)
    )

    assert first == again and other != first
    event = core.read_namespaced_event(first, NAMESPACE)
    assert event.count == 2 and event.type == "Normal" and event.reason == "StepAdvanced"
    assert event.involved_object.kind == "Rollout" and event.involved_object.uid == uid
    assert event.involved_object.api_version == "canary.rollout.dev/v1alpha1"
    warning = core.read_namespaced_event(other, NAMESPACE)
    assert warning.type == "Warning" and warning.count == 1

    assert EventRecorder(api_client).record(NAMESPACE, "checkout", uid, advanced) == first
    assert core.read_namespaced_event(first, NAMESPACE).count == 3
    listed = core.list_namespaced_event(
        NAMESPACE, field_selector="involvedObject.name=checkout"
    ).items
    assert sorted(str(e.reason) for e in listed) == ["RolledBack", "StepAdvanced"]


def test_delete_mirror_removes_only_mirrored_rollouts(
    store: KubeStateStore, mirror: KubeSpecMirror, api_client: kubernetes.client.ApiClient
) -> None:
    mirror.mirror_spec(rollout_body(), commit="c1", path=PATH)
    applied = copy.deepcopy(rollout_body(name="applied-by-argo"))
    custom_objects(api_client).create_namespaced_custom_object(
        "canary.rollout.dev", "v1alpha1", NAMESPACE, "rollouts", applied
    )

    assert mirror.delete_mirror(NAMESPACE, "checkout") is True
    assert mirror.delete_mirror(NAMESPACE, "checkout") is False
    assert mirror.delete_mirror(NAMESPACE, "applied-by-argo") is False

    assert [s.name for s in store.list_rollouts(NAMESPACE)] == ["applied-by-argo"]
