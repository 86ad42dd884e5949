"""The local API server's request log, as tests read it right after a call returns.

Inputs: official-client calls (get, JSON patch, a failing get) made one after another.
Output: as soon as each call has returned, the log's last record is that call, with its
verb and code; the log is never one request behind the client.
"""

from __future__ import annotations

import kubernetes
import pytest

from kubelite import LocalApiServer

ROUNDS = 100


def test_each_call_is_logged_before_its_answer_arrives(
    apiserver: LocalApiServer, api_client: kubernetes.client.ApiClient
) -> None:
    core = kubernetes.client.CoreV1Api(api_client)
    for round_ in range(ROUNDS):
        core.read_namespace("default")
        assert (apiserver.requests[-1].verb, apiserver.requests[-1].code) == ("get", 200), round_
        core.patch_namespace(
            "default",
            [{"op": "add", "path": "/metadata/labels", "value": {"round": str(round_)}}],
            _content_type="application/json-patch+json",
        )
        assert (apiserver.requests[-1].verb, apiserver.requests[-1].code) == ("patch", 200), round_
        with pytest.raises(kubernetes.client.ApiException):
            core.read_namespace("missing")
        last = apiserver.requests[-1]
        assert (last.verb, last.name, last.code) == ("get", "missing", 404), round_
