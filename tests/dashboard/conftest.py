"""Fixtures of the dashboard tests: Rollouts with a status, as a controller leaves them.

Inputs: the API server and its admin client from the suite's ``tests/conftest.py``.
Outputs: ``rollouts`` (the CRD, ``shop/checkout`` half-way through a canary with a verdict
and a person's command in its status, and ``ops/api`` settled; the store that wrote them).
"""

from __future__ import annotations

import time

import kubernetes
import pytest

from rollout.kube.store import KubeStateStore
from rollout.state import Command, Phase, RolloutState, VerdictRecord
from tests.kube.crd_file import crd_document
from tests.kube_clients import custom_objects
from tests.kube_servers import create_namespaces, install_crd

STEPS = [
    {"setWeight": 20},
    {"analyze": {"duration": "30s"}},
    {"setWeight": 50},
    {"pause": {}},
    {"setWeight": 100},
]
EVIDENCE = {
    "policy": "istio-error-ratio",
    "check": "errors",
    "outcome": "inconclusive",
    "message": "canary 0.4% errors (2 of 480), stable 0.3%: not decided yet",
    "value": 0.004,
    "threshold": 0.01,
    "stable_value": 0.003,
    "sample_size": 480,
    "statistic": 0.7,
}


def create_rollout(
    api: kubernetes.client.ApiClient, namespace: str, name: str, version: str, **extra: object
) -> None:
    custom_objects(api).create_namespaced_custom_object(
        "canary.rollout.dev",
        "v1alpha1",
        namespace,
        "rollouts",
        {
            "apiVersion": "canary.rollout.dev/v1alpha1",
            "kind": "Rollout",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "version": version,
                "traffic": {
                    "host": name,
                    "destinationRule": name,
                    "virtualServices": [{"name": name}],
                },
                "steps": STEPS,
                **extra,
            },
        },
    )


@pytest.fixture
def rollouts(api_client: kubernetes.client.ApiClient) -> KubeStateStore:
    install_crd(api_client, crd_document())
    create_namespaces(api_client, "shop", "ops")
    now = time.time()
    create_rollout(
        api_client,
        "shop",
        "checkout",
        "v2",
        alerts=[
            {
                "name": "team",
                "type": "slack",
                "url": {"value": "https://hooks.example/T0/SECRET-PART"},
                "allowInlineUrl": True,
            }
        ],
    )
    create_rollout(api_client, "ops", "api", "v7")
    store = KubeStateStore(api_client)
    checkout = RolloutState(
        phase=Phase.PROGRESSING,
        stable_version="v1",
        canary_version="v2",
        step_index=1,
        canary_weight=20,
        rollout_started_at=now - 120,
        message="analysing v2 at 20%",
        last_verdict=VerdictRecord(
            outcome="inconclusive",
            reason="not enough canary requests yet",
            at=now - 5,
            canary_requests=480,
            evidence=[EVIDENCE],
        ),
        commands=[Command(id="c1", action="promote", by="alice@laptop", at=now - 60)],
    )
    stored = store.load("shop", "checkout")
    store.save_state("shop", "checkout", checkout, stored.resource_version)
    settled = RolloutState(phase=Phase.SUCCEEDED, stable_version="v7")
    stored = store.load("ops", "api")
    store.save_state("ops", "api", settled, stored.resource_version)
    return store
