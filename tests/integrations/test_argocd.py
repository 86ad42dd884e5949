"""The Argo CD integration: the Rollout health check and the example Application.

Inputs: ``integrations/argocd/health.lua`` run as Argo CD runs it (Lua 5.1 sandbox, global
``obj``) over Rollouts whose status is written by the real state model in every phase, with
an invalid newer spec, a lagging observedGeneration and no status; the ``argocd-cm``
snippet; ``examples/argocd/application.yaml`` with the real jq evaluating its
``jqPathExpressions`` over the example VirtualServices while the real route planner walks
each example rollout through steps, promotion and a rollback. Outputs under test: the
health status and message, the snippet's key and script, and that every path our patches
change is ignored while the routes we do not manage are not, including the target of the
HorizontalPodAutoscaler a managed rollout names. The HTTPRoute and its Services are proven
in ``test_argocd_gateway.py``; both use ``argocd_ignore``.
"""

from __future__ import annotations

from typing import Any

import jsonpatch
import pytest
import yaml

from rollout.kube.workloads import retarget_patch
from rollout.mesh import istio_extras, istio_routes
from rollout.spec.rollout import Rollout
from rollout.state import Condition, Phase, RolloutState, with_failed_reconcile
from tests.integrations import argocd_ignore
from tests.integrations.argocd_ignore import (
    APPLICATION,
    REPO_ROOT,
    assert_changes_ignored,
    covered,
    example_objects,
    ignored_pointers,
    normalized,
    rollout_specs,
)
from tests.integrations.lua_health import run_health

HEALTH_LUA = REPO_ROOT / "integrations" / "argocd" / "health.lua"
ARGOCD_CM = REPO_ROOT / "integrations" / "argocd" / "argocd-cm.yaml"

EXPECTED_HEALTH = {
    Phase.WAITING: "Progressing",
    Phase.PROGRESSING: "Progressing",
    Phase.PROMOTING: "Progressing",
    Phase.PAUSED: "Suspended",
    Phase.ROLLED_BACK: "Degraded",
    Phase.FAILED: "Degraded",
    Phase.SUCCEEDED: "Healthy",
}


@pytest.fixture(scope="module")
def script() -> str:
    return HEALTH_LUA.read_text()


def rollout_object(state: RolloutState | None, *, generation: int = 4) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "canary.rollout.dev/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "checkout", "namespace": "shop", "generation": generation},
        "spec": {"version": "v2"},
    }
    if state is not None:
        obj["status"] = state.to_status()
    return obj


def state_in(phase: Phase, message: str = "") -> RolloutState:
    """A status in ``phase`` for a rollout whose spec asks for v2 (v1 was stable)."""
    return RolloutState(
        phase=phase,
        message=message or f"the rollout is {phase.value}",
        stable_version="v2" if phase is Phase.SUCCEEDED else "v1",
        canary_version="v2" if phase.active else None,
        canary_weight=25 if phase.active else 0,
        step_index=2,
        observed_generation=4,
    )


@pytest.mark.parametrize("phase", list(Phase))
def test_every_phase_maps_to_its_health(script: str, phase: Phase) -> None:
    health = run_health(script, rollout_object(state_in(phase, f"message of {phase.value}")))
    assert health == {"status": EXPECTED_HEALTH[phase], "message": f"message of {phase.value}"}


def test_a_phase_without_message_names_itself(script: str) -> None:
    state = state_in(Phase.PROGRESSING).model_copy(update={"message": ""})
    assert run_health(script, rollout_object(state)) == {
        "status": "Progressing",
        "message": "Progressing",
    }
    paused = state_in(Phase.PAUSED).model_copy(update={"message": ""})
    assert run_health(script, rollout_object(paused))["message"].startswith("Paused")


def test_no_status_yet_is_progressing(script: str) -> None:
    health = run_health(script, rollout_object(None))
    assert health["status"] == "Progressing"
    assert "Waiting for the rollout controller" in health["message"]


def test_a_lagging_observed_generation_is_progressing(script: str) -> None:
    obj = rollout_object(state_in(Phase.SUCCEEDED), generation=5)
    health = run_health(script, obj)
    assert health == {
        "status": "Progressing",
        "message": "Waiting for the rollout controller to observe generation 5",
    }
    without = state_in(Phase.SUCCEEDED).model_copy(update={"observed_generation": None})
    assert run_health(script, rollout_object(without, generation=5))["status"] == "Healthy"


def test_an_invalid_newer_spec_is_degraded_whatever_the_phase(script: str) -> None:
    problem = "rollouts/checkout.yaml:12: spec.steps[0].setWeight: must be at most 100"
    for phase in (Phase.SUCCEEDED, Phase.PROGRESSING):
        state = state_in(phase).with_condition("SpecValid", "False", "InvalidSpec", problem, 1.0)
        health = run_health(script, rollout_object(state))
        assert health["status"] == "Degraded"
        assert health["message"].endswith(problem)
    valid = state_in(Phase.SUCCEEDED).model_copy(
        update={
            "conditions": [Condition(type="TrafficRouted", status="True", reason="WeightsApplied")]
        }
    )
    assert run_health(script, rollout_object(valid))["status"] == "Healthy"


def test_a_rollout_the_controller_keeps_failing_on_is_degraded_until_a_tick_goes_through(
    script: str,
) -> None:
    failing = with_failed_reconcile(
        state_in(Phase.PROGRESSING),
        reason="RouteNotFound",
        message="VirtualService shop/checkout not found",
        generation=4,
        now=1.0,
    )
    health = run_health(script, rollout_object(failing))
    assert health["status"] == "Degraded"
    assert health["message"].endswith("VirtualService shop/checkout not found")
    recovered = failing.with_condition("Reconciled", "True", "TickSucceeded", "", 2.0)
    assert run_health(script, rollout_object(recovered))["status"] == "Progressing"


def test_a_new_spec_not_yet_picked_up_is_progressing(script: str) -> None:
    obj = rollout_object(state_in(Phase.SUCCEEDED))
    obj["spec"]["version"] = "v3"
    assert run_health(script, obj) == {
        "status": "Progressing",
        "message": "Waiting for the rollout controller to start rolling out v3",
    }


def test_git_reverted_to_the_stable_version_after_a_rollback_is_healthy(script: str) -> None:
    obj = rollout_object(state_in(Phase.ROLLED_BACK, "rolled back: error ratio 5% above 1%"))
    obj["spec"]["version"] = "v1"
    assert run_health(script, obj) == {
        "status": "Healthy",
        "message": "v1 is stable; rolled back: error ratio 5% above 1%",
    }


def test_an_unknown_phase_is_unknown(script: str) -> None:
    obj = rollout_object(state_in(Phase.SUCCEEDED))
    obj["status"]["phase"] = "Sleeping"
    assert run_health(script, obj) == {
        "status": "Unknown",
        "message": "Unknown rollout phase Sleeping",
    }


def test_argocd_cm_installs_the_script_under_the_crd_key(script: str) -> None:
    config = yaml.safe_load(ARGOCD_CM.read_text())
    crd = yaml.safe_load((REPO_ROOT / "manifests" / "crd.yaml").read_text())
    key = f"resource.customizations.health.{crd['spec']['group']}_{crd['spec']['names']['kind']}"
    assert key == "resource.customizations.health.canary.rollout.dev_Rollout"
    assert config["metadata"] == {
        "name": "argocd-cm",
        "namespace": "argocd",
        "labels": {"app.kubernetes.io/name": "argocd-cm", "app.kubernetes.io/part-of": "argocd"},
    }
    assert config["data"] == {key: script}


# -- ignoreDifferences --------------------------------------------------------------------


def virtual_services() -> dict[str, dict[str, Any]]:
    return example_objects("VirtualService")


def ignore_expressions(name: str) -> list[str]:
    return argocd_ignore.ignore_expressions("networking.istio.io", "VirtualService", name)


def lifecycle(rollout: Rollout, namespace: str) -> list[istio_routes.Target]:
    """The Istio targets of every routing the rollout goes through."""
    return [
        istio_routes.Target(
            host=rollout.spec.traffic.host,
            namespace=namespace,
            stable_subset=rollout.subset_for(moment.stable),
            canary_subset=rollout.subset_for(moment.canary) if moment.canary else None,
            canary_weight=moment.weight,
            owner=f"{rollout.namespace}.{rollout.name}",
            routing=moment.routing,
        )
        for moment in argocd_ignore.lifecycle(rollout)
    ]


def test_every_path_our_patches_change_is_ignored() -> None:
    services = virtual_services()
    checked = 0
    for rollout in rollout_specs():
        for ref in rollout.spec.traffic.virtual_services:
            live = services[ref.name]
            expressions = ignore_expressions(ref.name)
            assert expressions, f"no ignoreDifferences for VirtualService {ref.name}"
            for target in lifecycle(rollout, rollout.namespace):
                plan = istio_extras.plan_routes(live, ref.routes, target)
                assert plan.problems == []
                live, count = assert_changes_ignored(live, plan.operations, expressions)
                checked += count
    assert checked > 20


def walk(rollout: Rollout, ref_name: str, routes: list[str]) -> list[dict[str, Any]]:
    """The live VirtualService after each weight setting of the lifecycle."""
    live = virtual_services()[ref_name]
    seen = []
    for target in lifecycle(rollout, rollout.namespace):
        live = jsonpatch.apply_patch(
            live, istio_extras.plan_routes(live, routes, target).operations
        )
        seen.append(live)
    return seen


def test_argo_cd_sees_no_difference_at_any_step() -> None:
    for rollout in rollout_specs():
        for ref in rollout.spec.traffic.virtual_services:
            desired = virtual_services()[ref.name]
            expressions = ignore_expressions(ref.name)
            for live in walk(rollout, ref.name, ref.routes):
                assert normalized(live, expressions) == normalized(desired, expressions)


def test_weights_alone_would_show_the_canary_entry_and_the_promoted_subset() -> None:
    rollout = next(r for r in rollout_specs() if r.name == "checkout")
    desired = virtual_services()["checkout"]
    weight_only = [".spec.http[].route[].weight"]
    first_step, *_, promoted, _, rolled_back = walk(rollout, "checkout", [])
    assert len(first_step["spec"]["http"][0]["route"]) == 2  # the canary entry appended
    assert normalized(first_step, weight_only) != normalized(desired, weight_only)
    assert promoted["spec"]["http"][0]["route"][0]["destination"]["subset"] == "v2"
    assert normalized(promoted, weight_only) != normalized(desired, weight_only)
    assert rolled_back["spec"]["http"][0]["route"] == promoted["spec"]["http"][0]["route"]


def test_routes_we_do_not_manage_are_still_synced() -> None:
    gateway = virtual_services()["checkout-gateway"]
    names = [route.get("name") for route in gateway["spec"]["http"]]
    ignored = ignored_pointers(gateway, ignore_expressions("checkout-gateway"))
    storefront = f"/spec/http/{names.index('storefront')}"
    assert ignored == {f"/spec/http/{names.index('checkout-api')}/route"}
    assert not covered(storefront, ignored)
    for name, service in virtual_services().items():
        for path in ignored_pointers(service, ignore_expressions(name)):
            assert "/route" in path and "/match" not in path and "/retries" not in path


def test_the_application_respects_ignore_differences() -> None:
    application = yaml.safe_load(APPLICATION.read_text())
    assert application["apiVersion"] == "argoproj.io/v1alpha1"
    assert "RespectIgnoreDifferences=true" in application["spec"]["syncPolicy"]["syncOptions"]
    assert application["spec"]["source"]["path"] == "examples/app"


def test_the_target_of_every_autoscaler_a_rollout_names_is_ignored() -> None:
    application = yaml.safe_load(APPLICATION.read_text())
    ignored = {
        entry["name"]: entry["jsonPointers"]
        for entry in application["spec"]["ignoreDifferences"]
        if (entry["group"], entry["kind"]) == ("autoscaling", "HorizontalPodAutoscaler")
    }
    named = [
        rollout.spec.workload.managed.autoscaler
        for rollout in rollout_specs()
        if rollout.spec.workload.managed and rollout.spec.workload.managed.autoscaler
    ]
    assert named and sorted(ignored) == sorted(named)
    ref = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "recommendations-v1"}
    changed = {op["path"] for op in retarget_patch(ref, "recommendations-v2") if op["op"] != "test"}
    for name in named:
        assert all(covered(path, set(ignored[name])) for path in changed)
