"""The real API server refuses at admission what ``rollout validate`` refuses, where the CRD's
schema (OpenAPI and CEL rules) can say it.

Inputs: ``manifests/crd.yaml`` installed on the real kube-apiserver, and Rollouts each with
one mistake: a weight over 100, a negative weight, an unknown step kind, a step with two
kinds, an empty step, weights that decrease, no steps, a missing required field, two alert
targets with one name. Outputs under test: the server answers 422 Invalid naming the field,
stores nothing, and the spec model (what ``rollout validate`` runs) refuses the same spec;
a valid Rollout is stored. Only the real server runs admission on custom resources: on the
stand-in these tests are skipped, visibly.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import kubernetes
import pytest
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from rollout.spec.rollout import Rollout
from rollout_local.processes.kube_control_plane import KubeControlPlane
from tests.kube.crd_file import crd_document
from tests.kube_clients import custom_objects
from tests.kube_servers import ApiServer, create_namespaces, install_crd

pytestmark = pytest.mark.cluster

VALID: dict[str, Any] = {
    "apiVersion": "canary.rollout.dev/v1alpha1",
    "kind": "Rollout",
    "metadata": {"name": "checkout", "namespace": "shop"},
    "spec": {
        "version": "v2",
        "traffic": {
            "host": "checkout.shop.svc.cluster.local",
            "virtualServices": [{"name": "checkout"}],
            "destinationRule": "checkout",
        },
        "steps": [
            {"setHeaderRoute": {"headers": {"x-canary": {"exact": "always"}}}},
            {"setMirror": {"percent": 12.5}},
            {"setWeight": 20},
            {"pause": {"duration": "1m"}},
            {"setWeight": 100},
        ],
        "alerts": [{"name": "team", "type": "slack", "url": {"env": "SLACK_URL"}}],
    },
}

MISTAKES: dict[str, tuple[dict[str, Any], str]] = {
    "weight-over-100": ({"steps": [{"setWeight": 101}]}, "spec.steps[0].setWeight"),
    "negative-weight": ({"steps": [{"setWeight": -1}]}, "spec.steps[0].setWeight"),
    "unknown-step-kind": ({"steps": [{"setWieght": 20}]}, "spec.steps[0]"),
    "two-kinds-in-one-step": (
        {"steps": [{"setWeight": 20, "pause": {"duration": "1m"}}]},
        "spec.steps[0]",
    ),
    "empty-step": ({"steps": [{}]}, "spec.steps[0]"),
    "header-route-and-weight-in-one-step": (
        {"steps": [{"setWeight": 20, "setHeaderRoute": {"headers": {}}}]},
        "spec.steps[0]",
    ),
    "mirror-over-100": ({"steps": [{"setMirror": {"percent": 101}}]}, "spec.steps[0].setMirror"),
    "weights-decrease": ({"steps": [{"setWeight": 50}, {"setWeight": 20}]}, "spec.steps"),
    "no-steps": ({"steps": []}, "spec.steps"),
    "two-alert-targets-one-name": (
        {
            "alerts": [
                {"name": "team", "type": "slack", "url": {"env": "A"}},
                {"name": "team", "type": "slack", "url": {"env": "B"}},
            ]
        },
        "spec.alerts[1]",
    ),
    "no-traffic": ({"traffic": None}, "spec.traffic"),
}


@pytest.fixture
def crd_installed(apiserver: ApiServer, api_client: kubernetes.client.ApiClient) -> None:
    if not isinstance(apiserver, KubeControlPlane):
        pytest.skip("the stand-in runs no admission on custom resources")
    install_crd(api_client, crd_document())
    create_namespaces(api_client, "shop")


def with_mistake(change: dict[str, Any]) -> dict[str, Any]:
    document = copy.deepcopy(VALID)
    for key, value in change.items():
        if value is None:
            document["spec"].pop(key)
        else:
            document["spec"][key] = value
    return document


def test_the_valid_rollout_is_stored(
    crd_installed: None, api_client: kubernetes.client.ApiClient
) -> None:
    Rollout.model_validate(VALID)
    custom_objects(api_client).create_namespaced_custom_object(
        "canary.rollout.dev", "v1alpha1", "shop", "rollouts", copy.deepcopy(VALID)
    )


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_a_mistake_is_refused_at_admission_as_validate_refuses_it(
    crd_installed: None, api_client: kubernetes.client.ApiClient, mistake: str
) -> None:
    change, field = MISTAKES[mistake]
    document = with_mistake(change)
    with pytest.raises(ValidationError):
        Rollout.model_validate(document)
    custom = custom_objects(api_client)
    with pytest.raises(ApiException) as raised:
        custom.create_namespaced_custom_object(
            "canary.rollout.dev", "v1alpha1", "shop", "rollouts", document
        )
    assert raised.value.status == 422
    status = json.loads(raised.value.body or "{}")
    assert status["reason"] == "Invalid"
    assert field in status["message"], status["message"]
    listed = custom.list_namespaced_custom_object(
        "canary.rollout.dev", "v1alpha1", "shop", "rollouts"
    )
    assert listed["items"] == []
