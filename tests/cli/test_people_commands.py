"""``rollout promote|abort|retry|status`` against the local API server, as a person runs them.

Inputs: a Rollout resource and the command line; outputs: the command annotation the
controller will read (action, who, when), the exit code, and one clean line on error.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kubelite import LocalApiServer
from rollout.kube.rollout_resource import COMMAND_ANNOTATION
from tests.kube_clients import CustomObjects


def rollout_cli(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rollout", *args, "--kubeconfig", str(kubeconfig)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def command_of(custom: CustomObjects) -> dict[str, Any]:
    body = custom.get_namespaced_custom_object(
        "canary.rollout.dev", "v1alpha1", "shop", "rollouts", "checkout"
    )
    decoded: dict[str, Any] = json.loads(body["metadata"]["annotations"][COMMAND_ANNOTATION])
    return decoded


@pytest.mark.parametrize(
    ("args", "action"),
    [
        (("promote", "checkout"), "promote"),
        (("promote", "checkout", "--full"), "promote-full"),
        (("abort", "checkout"), "abort"),
        (("retry", "checkout"), "retry"),
    ],
)
def test_commands_land_on_the_rollout_with_who_and_when(
    checkout: CustomObjects,
    kubeconfig: Path,
    args: tuple[str, ...],
    action: str,
) -> None:
    result = rollout_cli(kubeconfig, *args, "-n", "shop", "--as", "alice")
    assert result.returncode == 0, result.stderr
    assert f"{action} of shop/checkout requested by alice" in result.stdout
    command = command_of(checkout)
    assert command["action"] == action
    assert command["by"] == "alice"
    assert command["at"] > 0 and command["id"]


def test_a_second_command_replaces_the_first_with_a_new_id(
    checkout: CustomObjects, kubeconfig: Path
) -> None:
    rollout_cli(kubeconfig, "promote", "checkout", "-n", "shop", "--as", "alice")
    first = command_of(checkout)
    rollout_cli(kubeconfig, "abort", "checkout", "-n", "shop", "--as", "bob")
    second = command_of(checkout)
    assert (second["action"], second["by"]) == ("abort", "bob")
    assert second["id"] != first["id"]


def test_an_unknown_rollout_is_one_clean_line(checkout: CustomObjects, kubeconfig: Path) -> None:
    result = rollout_cli(kubeconfig, "abort", "nope", "-n", "shop")
    assert result.returncode == 1
    assert "not found" in result.stderr
    assert "Traceback" not in result.stderr
    result = rollout_cli(kubeconfig, "status", "nope")
    assert result.returncode == 1
    assert "not found" in result.stderr and "Traceback" not in result.stderr


def test_status_lists_every_namespace_with_all_namespaces(
    checkout: CustomObjects, kubeconfig: Path
) -> None:
    result = rollout_cli(kubeconfig, "status", "-A")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("shop/checkout")


def test_a_rollout_no_controller_has_seen_is_pending_not_succeeded(
    checkout: CustomObjects, kubeconfig: Path
) -> None:
    result = rollout_cli(kubeconfig, "status", "checkout", "-n", "shop")
    assert result.returncode == 0, result.stderr
    assert "Succeeded" not in result.stdout and "✔" not in result.stdout
    assert "Pending" in result.stdout
    assert "waiting for a controller" in result.stdout
    assert "desired version v2" in result.stdout


def test_every_command_defaults_to_the_kubeconfig_namespace(
    checkout: CustomObjects, apiserver: LocalApiServer, tmp_path: Path
) -> None:
    in_shop = apiserver.write_kubeconfig(tmp_path / "shop-config", namespace="shop")
    listed = rollout_cli(in_shop, "status")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.startswith("shop/checkout")
    promoted = rollout_cli(in_shop, "promote", "checkout", "--as", "alice")
    assert promoted.returncode == 0, promoted.stderr
    assert "promote of shop/checkout requested by alice" in promoted.stdout
    assert command_of(checkout)["action"] == "promote"


def test_status_in_another_namespace_says_where_the_rollouts_are(
    checkout: CustomObjects, kubeconfig: Path
) -> None:
    listed = rollout_cli(kubeconfig, "status")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.strip() == "no rollouts in namespace default; found in: shop/checkout"
    named = rollout_cli(kubeconfig, "status", "checkout")
    assert named.returncode == 1
    assert "not found in namespace default; found in: shop/checkout" in named.stderr


def test_namespace_slash_name_as_status_prints_it(
    checkout: CustomObjects, kubeconfig: Path
) -> None:
    aborted = rollout_cli(kubeconfig, "abort", "shop/checkout", "--as", "bob")
    assert aborted.returncode == 0, aborted.stderr
    assert command_of(checkout)["action"] == "abort"
    shown = rollout_cli(kubeconfig, "status", "shop/checkout")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("shop/checkout")
    clash = rollout_cli(kubeconfig, "retry", "shop/checkout", "-n", "other")
    assert clash.returncode == 2
    assert "names namespace 'shop' but -n says 'other'" in clash.stderr


def test_without_the_crd_status_says_how_to_install_it(kubeconfig: Path) -> None:
    for args in (("status",), ("status", "-A"), ("status", "checkout"), ("promote", "checkout")):
        result = rollout_cli(kubeconfig, *args)
        assert result.returncode == 1, args
        assert "kubectl apply -f manifests/crd.yaml" in result.stderr, result.stderr
        assert "HTTP 404" not in result.stderr
        assert "could not find the requested resource" not in result.stderr
        assert "Traceback" not in result.stderr


def test_an_unreachable_cluster_is_one_clean_line(tmp_path: Path) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:1'}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\nusers: [{name: u, user: {}}]\n"
    )
    result = rollout_cli(config, "promote", "checkout", "-n", "shop")
    assert result.returncode == 1
    assert result.stderr.startswith("rollout: ")
    assert "Traceback" not in result.stderr


def test_run_without_a_repository_says_what_is_missing(tmp_path: Path) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
    result = subprocess.run(
        [sys.executable, "-m", "rollout", "run", "--kubeconfig", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "--git-url" in result.stderr
    assert "Traceback" not in result.stderr
