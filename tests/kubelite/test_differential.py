"""The stand-in answers kubectl as the real kube-apiserver does: same scenario, one diff.

Inputs: the same ``kubectl`` commands, run once against a fresh stand-in
(:class:`kubelite.LocalApiServer`) and once against the real etcd + kube-apiserver reset to
a fresh cluster (the ``twins`` fixture). Outputs under test: the two transcripts are equal:
kubectl's exit codes, stdout and stderr, blanked of what differs between any two runs of
one server (``tests/kubelite/transcripts.py``).

One known difference is left out on purpose: the stand-in has no server-side apply, so its
415 for a strategic merge patch on a custom resource does not list
``application/apply-patch+yaml`` among the accepted types.

The scenarios cover what the project and its users do: ``kubectl create namespace|secret
generic|configmap|deployment`` (protobuf bodies), objects in a namespace that does not
exist, CRD updates that drop a stored version, and the three patch types with a failing
``test`` op. The official client's calls are in ``test_differential_client.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.kubelite.objects import WIDGET_CRD
from tests.kubelite.transcripts import VIRTUAL_SERVICE, assert_same, kubectl_transcripts


def test_kubectl_creates_built_in_kinds(twins: dict[str, Path], tmp_path: Path) -> None:
    transcripts = kubectl_transcripts(
        twins,
        tmp_path,
        [
            ("create", "namespace", "shop"),
            ("get", "namespace", "shop", "-o", "json"),
            ("create", "namespace", "shop"),
            ("create", "secret", "generic", "alerts", "-n", "shop",
             "--from-literal=slack-url=https://hooks.example.test/T0"),
            ("get", "secret", "alerts", "-n", "shop", "-o", "json"),
            ("create", "configmap", "settings", "-n", "shop", "--from-literal=interval=10s"),
            ("get", "configmap", "settings", "-n", "shop", "-o", "json"),
            ("create", "serviceaccount", "runner", "-n", "shop"),
            ("get", "serviceaccount", "runner", "-n", "shop", "-o", "json"),
        ],
    )  # fmt: skip
    assert transcripts["stand-in"][0]["exit"] == 0
    assert_same(transcripts)


def test_kubectl_creates_a_deployment(twins: dict[str, Path], tmp_path: Path) -> None:
    transcripts = kubectl_transcripts(
        twins,
        tmp_path,
        [
            ("create", "deployment", "web", "--image=demo:v1", "--replicas=2"),
            ("get", "deployment", "web", "-o", "json"),
        ],
    )
    assert transcripts["stand-in"][0]["exit"] == 0
    assert_same(transcripts)


def test_objects_in_a_missing_namespace_are_refused(twins: dict[str, Path], tmp_path: Path) -> None:
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    transcripts = kubectl_transcripts(
        twins,
        tmp_path,
        [
            ("create", "configmap", "lost", "-n", "nowhere", "--from-literal=a=b"),
            (("apply", "-n", "nowhere", "-f", "-"), json.dumps(config_map)),
            ("get", "configmaps", "-n", "nowhere"),
            ("get", "namespace", "nowhere"),
        ],
    )
    assert transcripts["real"][0]["exit"] != 0
    assert_same(transcripts)


def test_a_crd_update_keeps_its_stored_versions(twins: dict[str, Path], tmp_path: Path) -> None:
    moved = json.loads(json.dumps(WIDGET_CRD))
    moved["spec"]["versions"][0]["name"] = "v2"
    transcripts = kubectl_transcripts(
        twins,
        tmp_path,
        [
            (("apply", "-f", "-"), json.dumps(WIDGET_CRD)),
            ("wait", "--for=condition=Established", "crd/widgets.example.test"),
            (("apply", "-f", "-"), json.dumps(moved)),
            ("get", "crd", "widgets.example.test", "-o", "jsonpath={.status.storedVersions}"),
        ],
    )
    assert transcripts["real"][2]["exit"] != 0
    assert_same(transcripts)


def test_kubectl_patches_and_errors(twins: dict[str, Path], tmp_path: Path) -> None:
    operations = json.dumps(
        [
            {"op": "test", "path": "/spec/http/0/route/0/weight", "value": 100},
            {"op": "replace", "path": "/spec/http/0/route/0/weight", "value": 95},
            {"op": "replace", "path": "/spec/http/0/route/1/weight", "value": 5},
        ]
    )
    transcripts = kubectl_transcripts(
        twins,
        tmp_path,
        [
            ("get", "vs", "reviews"),
            (("apply", "-f", "-"), yaml.safe_dump(VIRTUAL_SERVICE)),
            ("patch", "vs", "reviews", "--type=json", "-p", operations),
            ("patch", "vs", "reviews", "--type=json", "-p", operations),
            ("patch", "vs", "reviews", "--type=merge", "-p", '{"metadata":{"labels":{"t":"a"}}}'),
            ("get", "vs", "reviews", "-o", "json"),
            ("delete", "vs", "reviews"),
            ("delete", "vs", "reviews"),
            ("get", "widgets"),
        ],
    )
    assert_same(transcripts)


# -- the official client ------------------------------------------------------------------
